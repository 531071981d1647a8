/* The kubelet API's protobuf-c messages. protoc-c names a service's method fields after the
 * methods, and Registration's method is Register: `register` is a C keyword, so it is spelled
 * register_ wherever the generated header is read (the generated .c is built the same way). */
#pragma once
#define register register_
#include "k8s/api.pb-c.h"
#undef register
