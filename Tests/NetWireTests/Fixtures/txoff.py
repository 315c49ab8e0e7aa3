# Turns off TX checksum offload on an interface (ethtool -K DEV tx off) via
# the SIOCETHTOOL ioctl, because this machine has no ethtool binary.
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val))
fcntl.ioctl(socket.socket(), SIOCETHTOOL, ifr)
