import Testing
@testable import NetstackControl

@Test func versionIsSemantic() {
    let parts = NetstackControlInfo.version.split(separator: ".")
    #expect(parts.count == 3)
    #expect(parts.allSatisfy { Int($0) != nil })
}
