{
  "targets": [
    {
      "target_name": "netio",
      "sources": ["native/netio.c", "native/layouts.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
