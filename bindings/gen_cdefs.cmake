# Generates lua/hub/cdefs.lua: the public header run through the C preprocessor with HUB_CDEF
# defined (system includes skipped, macros expanded), wrapped in a Lua long string for ffi.cdef.
# Usage: cmake -DCC=cc -DHEADER=runtime/hub.h -DINCLUDES=-Iruntime/core,-Iruntime/ops,... -DOUT=build/lua/hub/cdefs.lua -P gen_cdefs.cmake
string(REPLACE "," ";" incs "${INCLUDES}")
execute_process(COMMAND ${CC} -E -P -DHUB_CDEF ${incs} ${HEADER}
                OUTPUT_VARIABLE decls RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gen_cdefs: preprocessing ${HEADER} failed: ${err}")
endif()
string(REGEX REPLACE "\n[ \t]*\n+" "\n" decls "${decls}")
file(WRITE ${OUT}.tmp "-- Generated from runtime/hub.h by bindings/gen_cdefs.cmake; do not edit.\nreturn [==[\n${decls}]==]\n")
file(RENAME ${OUT}.tmp ${OUT})
