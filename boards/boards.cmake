# Board-specific builds: -DVIGIL_BOARD=<name> compiles for one board's CPU. Without it the build
# is generic for its architecture: -mtune only, so an arm64 package built anywhere runs on every
# ARMv8-A board (code for a Pi 5's Cortex-A76 would die with SIGILL on a Pi 4's Cortex-A72).
#   board             architecture  CPU flags
#   rpi3              armhf         -mcpu=cortex-a53 -mfpu=neon-fp-armv8
#   rpi4              aarch64       -mcpu=cortex-a72
#   rpi5              aarch64       -mcpu=cortex-a76
#   jetson-orin-nano  aarch64       -mcpu=cortex-a78ae, static (JetPack's glibc is older)
#   x86_64            x86_64        -march=x86-64-v2 (Nehalem, 2008, and later)
set(VIGIL_BOARD "" CACHE STRING "Board to compile for (rpi3, rpi4, rpi5, jetson-orin-nano, x86_64); empty: generic")
set_property(CACHE VIGIL_BOARD PROPERTY STRINGS "" rpi3 rpi4 rpi5 jetson-orin-nano x86_64)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(vigil_arch aarch64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(vigil_arch armhf)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(vigil_arch x86_64)
else()
  set(vigil_arch "${CMAKE_SYSTEM_PROCESSOR}")
endif()

if(VIGIL_BOARD STREQUAL "")
  # Generic: the architecture's baseline, scheduled for its most common board.
  if(vigil_arch STREQUAL aarch64)
    set(VIGIL_CPU_FLAGS -mtune=cortex-a72)
  elseif(vigil_arch STREQUAL armhf)
    set(VIGIL_CPU_FLAGS -mtune=cortex-a53)
  else()
    set(VIGIL_CPU_FLAGS "")
  endif()
else()
  if(VIGIL_BOARD STREQUAL rpi3)
    set(board_arch armhf)
    set(VIGIL_CPU_FLAGS -mcpu=cortex-a53 -mfpu=neon-fp-armv8)
  elseif(VIGIL_BOARD STREQUAL rpi4)
    set(board_arch aarch64)
    set(VIGIL_CPU_FLAGS -mcpu=cortex-a72)
  elseif(VIGIL_BOARD STREQUAL rpi5)
    set(board_arch aarch64)
    set(VIGIL_CPU_FLAGS -mcpu=cortex-a76)
  elseif(VIGIL_BOARD STREQUAL jetson-orin-nano)
    set(board_arch aarch64)
    set(VIGIL_CPU_FLAGS -mcpu=cortex-a78ae)
  elseif(VIGIL_BOARD STREQUAL x86_64)
    set(board_arch x86_64)
    set(VIGIL_CPU_FLAGS -march=x86-64-v2)
  else()
    message(FATAL_ERROR "VIGIL_BOARD=${VIGIL_BOARD} is not a board; use rpi3, rpi4, rpi5, jetson-orin-nano or x86_64")
  endif()
  if(NOT board_arch STREQUAL vigil_arch)
    message(FATAL_ERROR "VIGIL_BOARD=${VIGIL_BOARD} is an ${board_arch} board but this build targets ${vigil_arch}; "
                        "use the ${board_arch} preset (toolchains/README.md)")
  endif()
endif()
# Same input, same output on every architecture: no fused multiply-add contraction (ARMv8 and
# ARMv7 with VFPv4 have FMA; x * scale + offset would round once instead of twice there).
if(NOT (vigil_arch STREQUAL x86_64 AND VIGIL_BOARD STREQUAL ""))
  list(APPEND VIGIL_CPU_FLAGS -ffp-contract=off)
endif()
# Under qemu-user the tests run on the CPU the build is for: a generic build on the oldest core of
# its architecture among the boards (a Pi 3's Cortex-A53, ARMv8.0; a Pi 2's Cortex-A7, ARMv7), so
# an instruction a generic package must not use fails its tests with SIGILL; a board build on its
# board's core ("max" where qemu has no model of it).
if(CMAKE_CROSSCOMPILING_EMULATOR)
  set(vigil_qemu_cpu max)
  if(VIGIL_BOARD STREQUAL "" AND vigil_arch STREQUAL aarch64)
    set(vigil_qemu_cpu cortex-a53)
  elseif(VIGIL_BOARD STREQUAL "" AND vigil_arch STREQUAL armhf)
    set(vigil_qemu_cpu cortex-a7)
  elseif(VIGIL_BOARD STREQUAL rpi4)
    set(vigil_qemu_cpu cortex-a72)
  elseif(VIGIL_BOARD STREQUAL rpi5)
    set(vigil_qemu_cpu cortex-a76)
  endif()
  list(LENGTH CMAKE_CROSSCOMPILING_EMULATOR vigil_emulator_parts)
  if(vigil_emulator_parts GREATER 0)
    list(INSERT CMAKE_CROSSCOMPILING_EMULATOR 1 -cpu ${vigil_qemu_cpu})
    set(vigil_qemu_cpu_note "; tests under qemu -cpu ${vigil_qemu_cpu}")
  endif()
endif()
message(STATUS "Vigil: ${vigil_arch} build for board \"${VIGIL_BOARD}\" (empty: generic), CPU flags: ${VIGIL_CPU_FLAGS}"
               "${vigil_qemu_cpu_note}")
add_compile_options(${VIGIL_CPU_FLAGS})
set(VIGIL_ARCH ${vigil_arch})
