# Warnings and sanitizers for every Vigil target: call vigil_target_defaults(<target>).
add_library(vigil_build_flags INTERFACE)
target_compile_options(vigil_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual -Wnull-dereference)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 reports false -Wrestrict positives inside std::string at -O2/-O3 (GCC bug 105651).
  target_compile_options(vigil_build_flags INTERFACE -Wno-restrict)
endif()
if(VIGIL_WERROR)
  target_compile_options(vigil_build_flags INTERFACE -Werror)
endif()
if(VIGIL_SANITIZE)
  target_compile_options(vigil_build_flags INTERFACE -fsanitize=address,undefined
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(vigil_build_flags INTERFACE -fsanitize=address,undefined)
endif()

function(vigil_target_defaults target)
  target_link_libraries(${target} PRIVATE vigil_build_flags)
endfunction()
