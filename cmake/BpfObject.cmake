# Kernel objects: vmlinux.h, then bpf_object(NAME SOURCES...), which
# compiles each x.bpf.c with clang -target bpf, links them into one object
# with bpftool and generates NAME.skel.h in ${TG_GEN}. NAME_bpf is an
# INTERFACE target that carries the skeleton's include path and libbpf
# (the shape of libbpf-bootstrap's FindBpfObject.cmake).
#
# TG_VMLINUX_H: a vmlinux.h to use instead of dumping the running kernel's
# BTF, so the build need not run on the target kernel.

set(TG_VMLINUX_H "" CACHE FILEPATH "vmlinux.h to build against (default: from /sys/kernel/btf/vmlinux)")
if(TG_VMLINUX_H)
  add_custom_command(
    OUTPUT ${TG_GEN}/vmlinux.h
    COMMAND ${CMAKE_COMMAND} -E copy ${TG_VMLINUX_H} ${TG_GEN}/vmlinux.h
    DEPENDS ${TG_VMLINUX_H}
    COMMENT "Using ${TG_VMLINUX_H} as vmlinux.h"
    VERBATIM)
else()
  add_custom_command(
    OUTPUT ${TG_GEN}/vmlinux.h
    COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${TG_GEN}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${TG_GEN}/vmlinux.h.tmp ${TG_GEN}/vmlinux.h
    COMMENT "Generating vmlinux.h from /sys/kernel/btf/vmlinux"
    VERBATIM)
endif()

execute_process(COMMAND uname -m OUTPUT_VARIABLE TG_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(TG_ARCH STREQUAL "x86_64")
  set(TG_BPF_ARCH x86)
elseif(TG_ARCH STREQUAL "aarch64")
  set(TG_BPF_ARCH arm64)
else()
  set(TG_BPF_ARCH ${TG_ARCH})
endif()

file(GLOB TG_KERN_HEADERS ${CMAKE_SOURCE_DIR}/kern/*.h)

function(bpf_object name)
  set(objs)
  foreach(src ${ARGN})
    get_filename_component(base ${src} NAME_WE)
    set(obj ${TG_GEN}/${base}.tmp.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${TG_BPF_ARCH}
              -Wall ${TG_WERROR_FLAG} -Wno-unused-function
              -I${TG_GEN} -I${CMAKE_SOURCE_DIR}/kern
              -c ${CMAKE_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_SOURCE_DIR}/${src} ${TG_KERN_HEADERS} ${TG_GEN}/vmlinux.h
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objs ${obj})
  endforeach()
  add_custom_command(
    OUTPUT ${TG_GEN}/${name}.bpf.o ${TG_GEN}/${name}.skel.h
    COMMAND ${BPFTOOL} gen object ${TG_GEN}/${name}.bpf.o ${objs}
    COMMAND ${BPFTOOL} gen skeleton ${TG_GEN}/${name}.bpf.o name ${name}_bpf > ${TG_GEN}/${name}.skel.h
    DEPENDS ${objs}
    COMMENT "Skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${TG_GEN}/${name}.skel.h)
  add_library(${name}_bpf INTERFACE)
  add_dependencies(${name}_bpf ${name}_skel)
  target_include_directories(${name}_bpf INTERFACE ${TG_GEN} ${CMAKE_SOURCE_DIR}/kern)
  target_link_libraries(${name}_bpf INTERFACE PkgConfig::LIBBPF)
endfunction()
