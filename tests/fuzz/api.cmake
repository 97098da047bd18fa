# libFuzzer target of the management API's request bodies (JSON, multipart, NDJSON) and
# raw requests, through the real router on an in-process server.
ota_fuzz_target(fuzz_api SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_api.c LIBS otadcore)
