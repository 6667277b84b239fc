# rewrite.cmake (hubemu): turns a kernels/cuda .cu file into C++ the host compiler takes:
#   k<T><<<grid, block, smem, stream>>>(args)  ->  hubemu::launch("k<T>", k<T>, grid, block, smem, stream)(args)
#   extern __shared__ T name[];                 ->  T *name = (T *)hubemu::dyn_smem();
# with a #line so that messages name the .cu file.  cmake -DIN=x.cu -DOUT=x.cpp -P rewrite.cmake
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z_0-9]*(<[^<>;()]*>)?)<<<" "hubemu::launch(\"\\1\", \\1, " src "${src}")
string(REPLACE ">>>(" ")(" src "${src}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_][A-Za-z_0-9 ]*[A-Za-z_0-9]) ([A-Za-z_][A-Za-z_0-9]*)\\[\\];"
       "\\1 *\\2 = (\\1 *)hubemu::dyn_smem();" src "${src}")
if(src MATCHES "<<<|>>>|extern __shared__")
  message(FATAL_ERROR "hubemu: ${IN}: a launch or an extern __shared__ array the rewrite does not know")
endif()
set(out "#line 1 \"${IN}\"\n${src}")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL out)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${out}")
