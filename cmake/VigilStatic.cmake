# VIGIL_STATIC: one self-contained executable (glibc, libstdc++, yaml-cpp, SQLite, Paho MQTT,
# OpenSSL all linked in). Two uses: systems whose glibc is older than the build's (Jetson's
# JetPack 5 has glibc 2.31, Debian 12 builds against 2.36; preset aarch64-static), and the
# smallest resident memory on a gateway (preset x86_64-static): a static executable maps only
# the pages of library code it touches, not whole shared libraries (bench/README.md).
# Debian ships static archives of everything except Paho MQTT C++, which is compiled here from
# Debian's source package: a cross build finds it in its sysroot (make-sysroot unpacks it there),
# a native build in the cache of toolchains/paho-cpp-source, which configure runs when it is
# missing. VIGIL_PAHO_CPP_SOURCE names another copy.
# Included before the find_package calls: the targets defined here stand in for the shared ones.
if(CMAKE_CROSSCOMPILING)
  if(NOT CMAKE_SYSROOT)
    message(FATAL_ERROR "A static cross build needs a make-sysroot sysroot (preset aarch64-static)")
  endif()
  set(vigil_paho_cpp_default "${CMAKE_SYSROOT}/usr/src/paho.mqtt.cpp")
  set(vigil_paho_cpp_fix "run toolchains/make-sysroot again")
else()
  execute_process(COMMAND ${PROJECT_SOURCE_DIR}/toolchains/paho-cpp-source --print
    OUTPUT_VARIABLE vigil_paho_cpp_default OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  set(vigil_paho_cpp_fix "run toolchains/paho-cpp-source")
endif()
set(VIGIL_PAHO_CPP_SOURCE "${vigil_paho_cpp_default}" CACHE PATH "Paho MQTT C++ sources (Debian's paho.mqtt.cpp)")
if(NOT CMAKE_CROSSCOMPILING AND VIGIL_PAHO_CPP_SOURCE STREQUAL vigil_paho_cpp_default
   AND NOT EXISTS "${VIGIL_PAHO_CPP_SOURCE}/src/async_client.cpp")
  message(STATUS "Fetching Debian's Paho MQTT C++ sources (toolchains/paho-cpp-source)")
  execute_process(COMMAND ${PROJECT_SOURCE_DIR}/toolchains/paho-cpp-source)
endif()
if(NOT EXISTS "${VIGIL_PAHO_CPP_SOURCE}/src/async_client.cpp")
  message(FATAL_ERROR "No Paho MQTT C++ sources in ${VIGIL_PAHO_CPP_SOURCE}: ${vigil_paho_cpp_fix}")
endif()

set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
set(OPENSSL_USE_STATIC_LIBS TRUE)
find_package(OpenSSL REQUIRED)
find_library(VIGIL_STATIC_YAML_CPP libyaml-cpp.a REQUIRED)
find_library(VIGIL_STATIC_PAHO_C libpaho-mqtt3as.a REQUIRED)
find_path(VIGIL_STATIC_PAHO_C_INCLUDE MQTTAsync.h REQUIRED)

# yaml-cpp's package file returns early when its target exists.
add_library(yaml-cpp STATIC IMPORTED)
set_target_properties(yaml-cpp PROPERTIES IMPORTED_LOCATION "${VIGIL_STATIC_YAML_CPP}")

add_library(vigil_paho_mqtt_c STATIC IMPORTED)
set_target_properties(vigil_paho_mqtt_c PROPERTIES
  IMPORTED_LOCATION "${VIGIL_STATIC_PAHO_C}"
  INTERFACE_INCLUDE_DIRECTORIES "${VIGIL_STATIC_PAHO_C_INCLUDE}"
  INTERFACE_COMPILE_DEFINITIONS "OPENSSL=1"
  INTERFACE_LINK_LIBRARIES "OpenSSL::SSL;OpenSSL::Crypto;Threads::Threads")

# Third-party code: built with its own defaults, not with Vigil's warnings.
file(GLOB vigil_paho_cpp_sources ${VIGIL_PAHO_CPP_SOURCE}/src/*.cpp)
add_library(vigil_paho_mqttpp3 STATIC ${vigil_paho_cpp_sources})
target_include_directories(vigil_paho_mqttpp3 SYSTEM PUBLIC ${VIGIL_PAHO_CPP_SOURCE}/src)
target_link_libraries(vigil_paho_mqttpp3 PUBLIC vigil_paho_mqtt_c)
target_compile_options(vigil_paho_mqttpp3 PRIVATE -w)
# PahoMqttCpp's package file returns early when this target exists.
add_library(PahoMqttCpp::paho-mqttpp3 ALIAS vigil_paho_mqttpp3)

# Everything static, glibc too. glibc 2.34+ has the files and dns lookups built in, so
# getaddrinfo resolves through /etc/hosts and DNS on any system; other NSS modules named in
# /etc/nsswitch.conf are loaded from the host's glibc, which works only with the glibc version
# linked in (hence ld's warnings about getaddrinfo, gethostbyname and dlopen; docs/deploy.md).
# --gc-sections drops the unused functions of archives built with one section per function
# (libstdc++): on x86_64 0.6 MB of code and 0.2 MB of resident memory, with the same objects
# as the dynamic build (ccache).
add_link_options(-static -Wl,--gc-sections)
