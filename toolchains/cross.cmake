# Shared part of the cross toolchain files: Debian's cross compiler for VIGIL_TARGET_TRIPLE, a
# sysroot made by toolchains/make-sysroot, and qemu-user as the emulator so ctest runs the
# target's tests on the build machine. Include it after setting CMAKE_SYSTEM_PROCESSOR,
# VIGIL_TARGET_TRIPLE, VIGIL_SYSROOT_NAME and VIGIL_QEMU.
set(CMAKE_SYSTEM_NAME Linux)

# The sysroot: -DVIGIL_SYSROOT=..., else $VIGIL_SYSROOT, else make-sysroot's cache folder.
if(NOT VIGIL_SYSROOT)
  if(DEFINED ENV{VIGIL_SYSROOT})
    set(VIGIL_SYSROOT "$ENV{VIGIL_SYSROOT}")
  elseif(DEFINED ENV{VIGIL_SYSROOT_CACHE})
    set(VIGIL_SYSROOT "$ENV{VIGIL_SYSROOT_CACHE}/${VIGIL_SYSROOT_NAME}")
  else()
    set(VIGIL_SYSROOT "$ENV{HOME}/.cache/vigil-sysroot/${VIGIL_SYSROOT_NAME}")
  endif()
endif()
if(NOT EXISTS "${VIGIL_SYSROOT}/usr/include/stdio.h")
  message(FATAL_ERROR "No ${VIGIL_SYSROOT_NAME} sysroot at ${VIGIL_SYSROOT}: run toolchains/make-sysroot ${VIGIL_SYSROOT_NAME}")
endif()
# try_compile projects re-read this file; hand them the resolved sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES VIGIL_SYSROOT)

set(CMAKE_SYSROOT "${VIGIL_SYSROOT}")
set(CMAKE_C_COMPILER ${VIGIL_TARGET_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${VIGIL_TARGET_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${VIGIL_TARGET_TRIPLE})

# Libraries, headers and CMake packages come from the sysroot; programs (flatc) from the host.
set(CMAKE_FIND_ROOT_PATH "${VIGIL_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${VIGIL_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${VIGIL_SYSROOT}/usr/lib/${VIGIL_TARGET_TRIPLE}/pkgconfig:${VIGIL_SYSROOT}/usr/share/pkgconfig")

# Target binaries run under qemu-user with the sysroot as their root for the loader and libraries.
find_program(VIGIL_QEMU_PROGRAM ${VIGIL_QEMU} REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${VIGIL_QEMU_PROGRAM};-L;${VIGIL_SYSROOT}")
