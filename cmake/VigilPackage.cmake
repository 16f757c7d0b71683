# The .deb of one architecture (cpack -G DEB, or `cpack --preset <preset>`): /usr/bin/vigil, the
# default pipeline as the conffile /etc/vigil/vigil.yaml, the board profiles, the systemd unit
# and a vigil system user (packaging/postinst).

# /etc/vigil/vigil.yaml is the embedded default pipeline with its outbox under the service's
# StateDirectory (/var/lib/vigil), never next to the config in the read-only /etc.
file(READ ${PROJECT_SOURCE_DIR}/examples/factory-sim.yaml vigil_default_config)
string(REPLACE "path: var/outbox.db" "path: /var/lib/vigil/outbox.db" vigil_packaged_config "${vigil_default_config}")
string(REGEX REPLACE "# The embedded default pipeline[^\n]*\n# Run it with:[^\n]*\n"
  "# /etc/vigil/vigil.yaml: the default pipeline (three simulated machines, no broker), run by\n# vigil.service. Replace the sources with yours; check with `vigil validate /etc/vigil/vigil.yaml`,\n# then `systemctl restart vigil`. A board profile sets limits to fit the board, e.g.\n#   include: /usr/share/vigil/boards/rpi4.yaml\n"
  vigil_packaged_config "${vigil_packaged_config}")
# A gateway names itself after its host unless the config says otherwise.
string(REGEX REPLACE "\ngateway: [^\n]*\n" "\n# gateway: line3-gw01          # default: the host name\n"
  vigil_packaged_config "${vigil_packaged_config}")
if(vigil_packaged_config STREQUAL vigil_default_config OR NOT vigil_packaged_config MATCHES "/var/lib/vigil/outbox.db")
  message(FATAL_ERROR "examples/factory-sim.yaml changed shape: update cmake/VigilPackage.cmake")
endif()
file(WRITE ${PROJECT_BINARY_DIR}/packaging/vigil.yaml "${vigil_packaged_config}")

install(FILES ${PROJECT_BINARY_DIR}/packaging/vigil.yaml DESTINATION /etc/vigil)
install(FILES packaging/vigil.service DESTINATION /lib/systemd/system)
install(DIRECTORY DESTINATION /var/lib/vigil)
install(FILES boards/rpi3.yaml boards/rpi4.yaml boards/rpi5.yaml boards/jetson-orin-nano.yaml boards/x86_64.yaml
  DESTINATION share/vigil/boards)
install(FILES README.md docs/deploy.md docs/cli.md docs/reference.md DESTINATION share/doc/vigil)

if(VIGIL_ARCH STREQUAL aarch64)
  set(vigil_deb_arch arm64)
elseif(VIGIL_ARCH STREQUAL armhf)
  set(vigil_deb_arch armhf)
elseif(VIGIL_ARCH STREQUAL x86_64)
  set(vigil_deb_arch amd64)
else()
  set(vigil_deb_arch ${VIGIL_ARCH})
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vigil)
set(CPACK_PACKAGE_VENDOR "Vigil")
set(CPACK_PACKAGE_CONTACT "Vigil maintainers <vigil@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Stream analytics for factory gateways")
set(CPACK_PACKAGE_DESCRIPTION "Vigil reads sensor streams (serial, MQTT), runs fixed-memory windowed\naggregates on the device, keeps every summary in an SQLite outbox and forwards\nthe ones worth sending.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${vigil_deb_arch})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/vigil")
if(VIGIL_BOARD)
  string(REPLACE "-" "" vigil_board_tag "${VIGIL_BOARD}")
  set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}+${vigil_board_tag}")
endif()
# Depends are written out rather than computed by dpkg-shlibdeps, which cannot read a cross
# sysroot made without a dpkg database; tests/packaging checks them against the binary's NEEDED.
if(VIGIL_STATIC)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1, libyaml-cpp0.7, libsqlite3-0, libpaho-mqttpp3-1, libpaho-mqtt1.3, libssl3, passwd")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
  ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)
include(CPack)
