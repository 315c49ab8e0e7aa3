// netem delay distribution tables. Kernel counterpart: struct disttable
// (net/sched/sch_netem.c) loaded from iproute2's /usr/lib/tc/*.dist files,
// which iproute2 generates at build time (netem/normal.c, pareto.c,
// paretonormal.c) from NIST Net's recipes.
//
// The tables here are generated at first use from the same recipes, not read
// from files: 4096 signed 16-bit entries, an inverse cumulative distribution
// scaled by NETEM_DIST_SCALE (8192), so a uniform index into the table draws
// a value with mean ≈ 0 and standard deviation ≈ 8192.
//
// - normal: entry k is Φ⁻¹((4k + 0.5) / 16384), the upper edge of the bin
//   iproute2's scan of erf() lands on, computed with Acklam's rational
//   approximation (relative error < 1.2e-9, far below the 1/8192 scale).
// - pareto (shape a = 3): entry k is (u^(-1/3) − 1.5) · 4/3 · 8192 with
//   u = (65536 − 16k) / 65536, capped at 32767.
// - paretonormal: (normal + 3 · pareto) / 4 per entry, as iproute2 mixes them.
//
// Entries can differ from iproute2's files by ±1 where its 0.00005 scan step
// rounds differently; the distribution's shape is the same.

/// The distributions `tc qdisc … netem distribution NAME` accepts.
public enum NetemDistribution: String, Sendable, Equatable, CaseIterable {
    case uniform, normal, pareto, paretonormal

    /// NETEM_DIST_SCALE.
    public static let scale: Int64 = 8192
    static let tableSize = 4096

    /// The table tabledist() indexes; nil for uniform (netem's built-in default).
    public var table: [Int16]? {
        switch self {
        case .uniform: nil
        case .normal: NetemDistribution.normalTable
        case .pareto: NetemDistribution.paretoTable
        case .paretonormal: NetemDistribution.paretoNormalTable
        }
    }

    static let normalTable: [Int16] = (0..<tableSize).map { k in
        clampToInt16((inverseNormal((Double(4 * k) + 0.5) / 16384) * Double(scale)).rounded(.toNearestOrEven))
    }

    static func paretoValue(_ i: Int) -> Double {
        // u^(-1/3) − 1.5, scaled; u = i/65536.
        let u = Double(i) / 65536
        var v = 1.0 / cubeRoot(u) - 1.5
        v *= (4.0 / 3.0) * Double(scale)
        return min(v, 32767)
    }

    static let paretoTable: [Int16] = (0..<tableSize).map { k in
        clampToInt16(paretoValue(65536 - 16 * k).rounded(.toNearestOrEven))
    }

    static let paretoNormalTable: [Int16] = (0..<tableSize).map { k in
        let i = 4 * k
        let normal = Int(normalTable[k])
        let pareto = Int(paretoValue(65536 - 4 * i).rounded(.toNearestOrEven))
        return clampToInt16(Double((normal + 3 * pareto) / 4))
    }

    static func clampToInt16(_ v: Double) -> Int16 {
        Int16(max(Double(Int16.min), min(Double(Int16.max), v)))
    }

    /// ln(x) for x > 0 without Foundation: x = m·2^e, ln m by the atanh series.
    static func naturalLog(_ x: Double) -> Double {
        let e = Double(x.exponent)
        let m = x.significand            // in [1, 2)
        let s = (m - 1) / (m + 1)        // ≤ 1/3
        let s2 = s * s
        var term = s
        var sum = 0.0
        var k = 1.0
        for _ in 0..<30 {
            sum += term / k
            term *= s2
            k += 2
        }
        return 2 * sum + e * 0.693_147_180_559_945_3
    }

    static func cubeRoot(_ x: Double) -> Double {
        guard x > 0 else { return 0 }
        var y = x < 1 ? 1.0 : x
        for _ in 0..<200 { y = (2 * y + x / (y * y)) / 3 }
        return y
    }

    /// Φ⁻¹(p), Acklam's algorithm.
    static func inverseNormal(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * naturalLog(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low {
            let q = (-2 * naturalLog(1 - p)).squareRoot()
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let q = p - 0.5
        let r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}
