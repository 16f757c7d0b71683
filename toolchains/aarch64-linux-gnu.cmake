# Cross build for 64-bit ARM (Raspberry Pi 4/5 on a 64-bit OS, Jetson) with Debian's
# g++-aarch64-linux-gnu against the sysroot of `toolchains/make-sysroot aarch64`.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(VIGIL_TARGET_TRIPLE aarch64-linux-gnu)
set(VIGIL_SYSROOT_NAME aarch64)
set(VIGIL_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/cross.cmake)
