# FlatBuffers schemas compiled at build time: the schema compiler comes from the host (also when
# cross-compiling), the runtime part is header-only, and the generated code stays private.
find_program(FLATC flatc REQUIRED)
find_path(FLATBUFFERS_INCLUDE_DIR flatbuffers/flatbuffers.h REQUIRED)

# Generates <name>_generated.h from `schema` (relative to the current source folder) into the
# current build folder's generated/ and makes it a private part of `target`.
function(vigil_flatbuffers_schema target schema)
  get_filename_component(name ${schema} NAME_WE)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/generated)
  set(header ${out_dir}/${name}_generated.h)
  add_custom_command(
    OUTPUT ${header}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${FLATC} --cpp -o ${out_dir} ${CMAKE_CURRENT_SOURCE_DIR}/${schema}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${schema}
    COMMENT "flatc: generating ${name}_generated.h"
    VERBATIM)
  target_sources(${target} PRIVATE ${header})
  target_include_directories(${target} PRIVATE ${out_dir})
  target_include_directories(${target} SYSTEM PRIVATE ${FLATBUFFERS_INCLUDE_DIR})
endfunction()
