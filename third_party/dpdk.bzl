"""Compile flags for targets that include DPDK headers (from `pkg-config --cflags libdpdk`)."""

DPDK_COPTS = [
    "-isystem/usr/include/dpdk",
    "-isystem/usr/include/x86_64-linux-gnu/dpdk",
    "-include",
    "rte_config.h",
    "-march=corei7",
    # DPDK 22.11 headers trip a few of our warnings; they are system headers for us.
    "-Wno-volatile",
]
