# Cross build for 32-bit ARM hard-float (Raspberry Pi 2/3 and Pi OS 32-bit: ARMv7 and later)
# with Debian's g++-arm-linux-gnueabihf against the sysroot of `toolchains/make-sysroot armhf`.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(VIGIL_TARGET_TRIPLE arm-linux-gnueabihf)
set(VIGIL_SYSROOT_NAME armhf)
set(VIGIL_QEMU qemu-arm-static)
include(${CMAKE_CURRENT_LIST_DIR}/cross.cmake)
# GCC notes that the ABI of passing some aggregates changed in GCC 7.1 (-Wpsabi); everything here
# is built with one compiler, so the note is noise, and -Werror would make it fatal.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
