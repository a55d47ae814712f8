/* varlink_service.c: org.varlink.service for both sockets (see
 * varlink_service.h). Every interface a socket lists in GetInfo is one that
 * GetInterfaceDescription describes, this one included. */
#include <string.h>
#include "varlink.h"
#include "varlink_service.h"

#define SERVICE_INTERFACE "org.varlink.service"

static const char service_description[] =
        "interface org.varlink.service\n"
        "method GetInfo() -> (vendor: string, product: string, version: string, url: string, "
        "interfaces: []string)\n"
        "method GetInterfaceDescription(interface: string) -> (description: string)\n"
        "error InterfaceNotFound (interface: string)\n"
        "error MethodNotFound (method: string)\n"
        "error MethodNotImplemented (method: string)\n"
        "error InvalidParameter (parameter: string)\n";

static json_t *get_info(const varlink_interface *interfaces, size_t n) {
        json_t *names = json_pack("[s]", SERVICE_INTERFACE);

        for (size_t i = 0; names && i < n; i++)
                if (json_array_append_new(names, json_string(interfaces[i].name)) < 0) {
                        json_decref(names);
                        names = NULL;
                }
        if (!names)
                return NULL;
        return varlink_reply_new(json_pack("{s:s, s:s, s:s, s:s, s:o}", "vendor", ENRICH_VENDOR, "product", "enrichd",
                                           "version", ENRICH_VERSION, "url", ENRICH_URL, "interfaces", names),
                                 false);
}

static json_t *get_interface_description(const varlink_interface *interfaces, size_t n, json_t *params) {
        const char *name = json_string_value(json_object_get(params, "interface"));
        const char *description = NULL;

        if (!name)
                return varlink_error_new(SERVICE_INTERFACE ".InvalidParameter",
                                         json_pack("{s:s}", "parameter", "interface"));
        if (strcmp(name, SERVICE_INTERFACE) == 0)
                description = service_description;
        for (size_t i = 0; !description && i < n; i++)
                if (strcmp(name, interfaces[i].name) == 0)
                        description = interfaces[i].description;
        if (!description)
                return varlink_error_new(SERVICE_INTERFACE ".InterfaceNotFound", json_pack("{s:s}", "interface", name));
        return varlink_reply_new(json_pack("{s:s}", "description", description), false);
}

bool varlink_service_call(const varlink_interface *interfaces, size_t n, const char *method, json_t *params,
                          json_t **ret) {
        if (strcmp(method, SERVICE_INTERFACE ".GetInfo") == 0)
                *ret = get_info(interfaces, n);
        else if (strcmp(method, SERVICE_INTERFACE ".GetInterfaceDescription") == 0)
                *ret = get_interface_description(interfaces, n, params);
        else
                return false;
        return true;
}
