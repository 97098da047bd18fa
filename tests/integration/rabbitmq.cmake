# otad on a two-node RabbitMQ cluster (docs/broker.md, "RabbitMQ"); runs only under
# `make test-rabbitmq` (OTA_TEST_RABBITMQ=1), skipped otherwise: Erlang takes a minute to start.
ota_integration_test(test_rabbitmq SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rabbitmq.c
  LIBS ota_test_batch otacommon PkgConfig::JANSSON
  TIMEOUT 600 DEPENDS otad)
