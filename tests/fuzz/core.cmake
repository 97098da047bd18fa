# libFuzzer targets of the server's pure logic (built only with -DOTA_FUZZ=ON).
# The module under test is compiled into the target itself (not taken from otad_logic)
# so that it gets libFuzzer's coverage instrumentation.
set(_core ${CMAKE_SOURCE_DIR}/server)
ota_fuzz_target(fuzz_devmsg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_devmsg.c ${_core}/core/devmsg.c
  LIBS otacommon PkgConfig::JANSSON INCLUDES ${_core})
ota_fuzz_target(fuzz_urlsign
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_urlsign.c ${_core}/core/urlsign.c
  LIBS otacommon PkgConfig::JANSSON OpenSSL::Crypto INCLUDES ${_core})
ota_fuzz_target(fuzz_bparams
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_bparams.c ${_core}/core/batchparams.c
    ${_core}/core/target.c ${_core}/core/validate.c ${_core}/core/rollout.c ${_core}/core/fsm.c
    ${_core}/core/reqparse.c ${_core}/core/window.c
  LIBS otacommon otaproto PkgConfig::JANSSON OpenSSL::Crypto INCLUDES ${_core})
# tags, groups, bulk-tag bodies and target queries (docs/api.md, "Tags and groups")
ota_fuzz_target(fuzz_target
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_target.c ${_core}/core/target.c ${_core}/core/validate.c
  LIBS otacommon otaproto PkgConfig::JANSSON INCLUDES ${_core})
# webhook bodies, POST and PATCH /api/v1/webhooks (core/webhook.c; docs/api.md, "Webhooks")
ota_fuzz_target(fuzz_webhook
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_webhook.c ${_core}/core/webhook.c ${_core}/core/reqparse.c
  ${_core}/core/validate.c
  LIBS otaproto otacommon PkgConfig::JANSSON OpenSSL::Crypto INCLUDES ${_core})
ota_fuzz_target(fuzz_ddi
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_ddi.c ${_core}/core/ddi.c ${_core}/core/reqparse.c
    ${_core}/core/validate.c
  LIBS otacommon otaproto PkgConfig::JANSSON OpenSSL::Crypto INCLUDES ${_core})
# The RabbitMQ management API's list of connections (otad's presence on RabbitMQ).
ota_fuzz_target(fuzz_rmq_presence
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_rmq_presence.c ${_core}/mqtt/rmq_presence.c
  LIBS otadcore INCLUDES ${_core})
# Partition topics: the plugin's reading of device topics and otad's of the moved ones.
ota_fuzz_target(fuzz_route_topic
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_route_topic.c ${CMAKE_SOURCE_DIR}/common/auth_rules.c
    ${_core}/mqtt/mqttc_proto.c
  LIBS otacommon otaproto PkgConfig::JANSSON INCLUDES ${_core})
