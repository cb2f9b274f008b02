/*
 * layouts(): { "struct": sizeof, "struct.field": offsetof, ... } for the kernel structs the
 * TypeScript side packs (native/layouts.h). Its own translation unit: it includes only the
 * kernel's UAPI headers, which do not mix with the C library's <netinet/in.h> that
 * netio.c uses (musl has no guards for that).
 */
#include <node_api.h>

#include "layouts.h"

napi_value netio_layouts(napi_env env) {
  napi_value obj, v;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
#define X(name, value)                                                               \
  if (napi_create_uint32(env, (uint32_t)(value), &v) != napi_ok ||                    \
      napi_set_named_property(env, obj, name, v) != napi_ok)                          \
    return NULL;
  NETIO_LAYOUTS
#undef X
  return obj;
}
