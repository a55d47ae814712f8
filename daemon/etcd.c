/* etcd.c: etcd v3's JSON gateway through libcurl (etcd.h). Each call is a
 * POST of a JSON body to ENDPOINT/v3/...; byte fields (keys, values) are
 * base64 in both directions. Credentials ("user:password", fleet.credentials)
 * buy a token from /v3/auth/authenticate, sent in the Authorization header
 * and bought again once when etcd says it is no longer valid. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "etcd.h"
#include "host.h"
#include "util.h"

struct etcd {
        char **endpoints; /* copies, without a trailing slash */
        size_t n_endpoints, current;
        char *credentials; /* path, NULL: none */
        char *ca, *cert, *key;
        char *token; /* from /v3/auth/authenticate */
        time_t server_date; /* the last answer's HTTP Date header, 0: none */
        long timeout_ms;
        int64_t deadline_ms; /* host_now_ms(); 0: none (etcd_set_deadline) */
        CURL *curl;
        char error[512];
};

/* A response being read: a bounded buffer, and for a watch the callback
 * that takes each complete message. */
typedef struct response {
        char *data;
        size_t len, size, max;
        etcd *e;
        /* watch only */
        bool watch;
        const volatile bool *stop;
        void (*ready)(void *userdata);
        etcd_watch_fn fn;
        void *userdata;
        int result; /* the watch's outcome once decided */
        int64_t compacted;
        bool done;
} response;

void etcd_kvs_clear(etcd_kvs *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].key);
                free(l->items[i].value);
        }
        free(l->items);
        *l = (etcd_kvs) { 0 };
}

int etcd_global_init(void) {
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static int set_error(etcd *e, int r, const char *format, ...) __attribute__((format(printf, 3, 4)));
static int set_error(etcd *e, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(e->error, sizeof e->error, format, ap);
        va_end(ap);
        return r;
}

const char *etcd_last_error(const etcd *e) {
        return e && e->error[0] ? e->error : "no error";
}

const char *etcd_endpoint(const etcd *e) {
        return e->endpoints[e->current];
}

void etcd_set_deadline(etcd *e, int64_t deadline_ms) {
        e->deadline_ms = deadline_ms;
}

/* The bound of the next transfer: timeout_ms, cut to what is left before
 * the deadline (at least 1 ms: 0 would mean none to libcurl). */
static long transfer_timeout(const etcd *e) {
        int64_t left;

        if (e->deadline_ms <= 0)
                return e->timeout_ms;
        left = e->deadline_ms - host_now_ms();
        if (left < 1)
                left = 1;
        return left < e->timeout_ms ? (long) left : e->timeout_ms;
}

static bool past_deadline(const etcd *e) {
        return e->deadline_ms > 0 && host_now_ms() >= e->deadline_ms;
}

void etcd_next_endpoint(etcd *e) {
        e->current = (e->current + 1) % e->n_endpoints;
}

static int dup_or_null(const char *s, char **ret) {
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int etcd_new(const config_fleet *f, long timeout_ms, etcd **ret) {
        etcd *e = calloc(1, sizeof *e);
        int r = -ENOMEM;

        if (!e)
                return -ENOMEM;
        e->n_endpoints = strv_length(f->endpoints);
        e->endpoints = calloc(e->n_endpoints + 1, sizeof(char *));
        if (!e->endpoints || e->n_endpoints == 0)
                goto out;
        for (size_t i = 0; i < e->n_endpoints; i++) {
                /* Without the trailing '/', so paths append cleanly. */
                size_t n = strlen(f->endpoints[i]);
                if (n > 0 && f->endpoints[i][n - 1] == '/')
                        n--;
                if (!(e->endpoints[i] = strndup(f->endpoints[i], n)))
                        goto out;
        }
        if (dup_or_null(f->credentials, &e->credentials) < 0 || dup_or_null(f->ca, &e->ca) < 0 ||
            dup_or_null(f->cert, &e->cert) < 0 || dup_or_null(f->key, &e->key) < 0)
                goto out;
        e->timeout_ms = timeout_ms;
        e->curl = curl_easy_init();
        if (!e->curl) {
                r = -EIO;
                goto out;
        }
        *ret = e;
        e = NULL;
        r = 0;
out:
        etcd_free(e);
        return r;
}

void etcd_free(etcd *e) {
        if (!e)
                return;
        strv_free(e->endpoints);
        free(e->credentials);
        free(e->ca);
        free(e->cert);
        free(e->key);
        if (e->token) {
                OPENSSL_cleanse(e->token, strlen(e->token));
                free(e->token);
        }
        if (e->curl)
                curl_easy_cleanup(e->curl);
        free(e);
}

/* ---- base64 of the gateway's byte fields ------------------------------ */

static char *b64_encode(const void *data, size_t len) {
        char *out = malloc(4 * ((len + 2) / 3) + 1);

        if (out)
                EVP_EncodeBlock((unsigned char *) out, data, (int) len);
        return out;
}

/* Decodes standard base64 with padding; *ret NUL-terminated. */
static int b64_decode(const char *in, char **ret, size_t *ret_len) {
        size_t n = strlen(in), pad = 0;
        unsigned char *out;
        int len;

        if (n % 4 != 0 || n / 4 * 3 > ETCD_MAX_MESSAGE)
                return -EBADMSG;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        len = EVP_DecodeBlock(out, (const unsigned char *) in, (int) n);
        if (len < 0) {
                free(out);
                return -EBADMSG;
        }
        if (n >= 1 && in[n - 1] == '=')
                pad++;
        if (n >= 2 && in[n - 2] == '=')
                pad++;
        len -= (int) pad;
        out[len] = '\0';
        *ret = (char *) out;
        if (ret_len)
                *ret_len = (size_t) len;
        return 0;
}

/* The end of a prefix range: the prefix with its last byte plus one. */
static char *prefix_end(const char *prefix) {
        char *end = strdup(prefix);
        size_t n = end ? strlen(end) : 0;

        if (end && n > 0)
                end[n - 1]++;
        return end;
}

/* The gateway sends 64-bit integers as strings. 0 when absent. */
static int64_t json_int64(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        if (json_is_integer(v))
                return json_integer_value(v);
        if (json_is_string(v))
                return strtoll(json_string_value(v), NULL, 10);
        return 0;
}

static int parse_kv(json_t *o, bool deleted, etcd_kv *ret) {
        const char *key = json_string_value(json_object_get(o, "key"));
        const char *value = json_string_value(json_object_get(o, "value"));
        etcd_kv kv = { .deleted = deleted,
                       .mod_revision = json_int64(o, "mod_revision"),
                       .lease = json_int64(o, "lease") };
        int r;

        if (!key)
                return -EBADMSG;
        r = b64_decode(key, &kv.key, NULL);
        if (r < 0)
                return r;
        if (!deleted) {
                r = b64_decode(value ? value : "", &kv.value, &kv.value_len);
                if (r < 0) {
                        free(kv.key);
                        return r;
                }
        }
        *ret = kv;
        return 0;
}

/* ---- transport --------------------------------------------------------- */

static size_t on_data(char *data, size_t size, size_t n, void *userdata);

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        response *resp = userdata;

        return resp->stop && *resp->stop ? 1 : 0;
}

/* Maps the gateway's error object ({"error","code","message"}, gRPC codes)
 * to an errno, with its message in e->error. */
static int gateway_error(etcd *e, json_t *o, long status) {
        const char *message = json_string_value(json_object_get(o, "message"));
        json_int_t code = json_integer_value(json_object_get(o, "code"));

        if (!message)
                message = json_string_value(json_object_get(o, "error"));
        set_error(e, 0, "%s: %s (HTTP %ld)", etcd_endpoint(e), message ? message : "error", status);
        if (message && strstr(message, "compacted"))
                return -ESTALE;
        switch (code) {
        case 7: return -EACCES; /* PermissionDenied */
        case 16: return -EPERM; /* Unauthenticated */
        case 3: return -EINVAL; /* InvalidArgument */
        case 5: return -ENOENT; /* NotFound (lease) */
        case 11: return -ESTALE; /* OutOfRange: compacted */
        default:
                if (message && strstr(message, "permission denied"))
                        return -EACCES;
                if (message && (strstr(message, "invalid auth token") || strstr(message, "user name is empty")))
                        return -EPERM;
                return -EIO;
        }
}

/* One POST to the current endpoint. resp->data gets the body (unary). */
/* Keeps the Date header (the gateway's clock, in seconds), for
 * etcd_clock_skew. */
static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        etcd *e = userdata;
        size_t len = size * n;
        char line[128];

        if (len > 5 && len < sizeof line && strncasecmp(data, "Date:", 5) == 0) {
                memcpy(line, data + 5, len - 5);
                line[len - 5] = '\0';
                line[strcspn(line, "\r\n")] = '\0';
                e->server_date = curl_getdate(line, NULL);
                if (e->server_date < 0)
                        e->server_date = 0;
        }
        return len;
}

static int post_once(etcd *e, const char *path, const char *body, response *resp) {
        struct curl_slist *headers = NULL;
        char url[512], *auth = NULL;
        long status = 0, limit = transfer_timeout(e);
        CURLcode c;
        int r;

        snprintf(url, sizeof url, "%s%s", etcd_endpoint(e), path);
        if (!resp->watch && past_deadline(e))
                return set_error(e, -ETIMEDOUT, "%s: no answer before the deadline", url);
        curl_easy_reset(e->curl);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        if (headers && e->token && strcmp(path, "/v3/auth/authenticate") != 0) {
                if (asprintf(&auth, "Authorization: %s", e->token) < 0) {
                        auth = NULL;
                        r = -ENOMEM;
                        goto out;
                }
                headers = curl_slist_append(headers, auth);
        }
        if (!headers) {
                r = -ENOMEM;
                goto out;
        }
        curl_easy_setopt(e->curl, CURLOPT_URL, url);
        curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, limit);
        curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(e->curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e->curl, CURLOPT_HEADERDATA, e);
        curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPIDLE, 10L);
        curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPINTVL, 5L);
        if (resp->watch) {
                curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, resp);
        } else
                curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, limit);
        if (e->ca)
                curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->ca);
        if (e->cert) {
                curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert);
                curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key);
        }
        c = curl_easy_perform(e->curl);
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
        if (resp->watch && resp->done) {
                r = resp->result;
                goto out;
        }
        if (c == CURLE_ABORTED_BY_CALLBACK && resp->stop && *resp->stop) {
                r = 0;
                goto out;
        }
        if (c == CURLE_OPERATION_TIMEDOUT && !resp->watch) {
                /* Past the caller's deadline: no other endpoint is tried. */
                r = set_error(e, past_deadline(e) ? -ETIMEDOUT : -ECONNREFUSED, "%s: no answer within %ld ms", url,
                              limit);
                goto out;
        }
        if (c != CURLE_OK) {
                r = set_error(e, c == CURLE_WRITE_ERROR ? -EBADMSG : -ECONNREFUSED, "%s: %s", url,
                              curl_easy_strerror(c));
                goto out;
        }
        if (status != 200) {
                json_t *o = resp->data ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
                r = o ? gateway_error(e, o, status) : set_error(e, -EIO, "%s: HTTP %ld", url, status);
                json_decref(o);
                goto out;
        }
        r = resp->watch ? -ECONNRESET : 0;
        if (resp->watch)
                set_error(e, 0, "%s: the watch stream ended", url);
out:
        curl_slist_free_all(headers);
        if (auth) {
                OPENSSL_cleanse(auth, strlen(auth));
                free(auth);
        }
        return r;
}

static int authenticate(etcd *e) {
        char *content = NULL, *colon, *body = NULL;
        response resp = { .e = e, .max = 64 * 1024 };
        json_t *request = NULL, *answer = NULL;
        const char *token;
        size_t len = 0;
        int r;

        r = read_file_bounded(e->credentials, 4096, &content, &len);
        if (r < 0)
                return set_error(e, r, "Failed to read %s: %s", e->credentials, strerror(-r));
        content[strcspn(content, "\r\n")] = '\0';
        colon = strchr(content, ':');
        if (!colon) {
                r = set_error(e, -EINVAL, "%s: not \"user:password\"", e->credentials);
                goto out;
        }
        *colon = '\0';
        request = json_pack("{s:s, s:s}", "name", content, "password", colon + 1);
        body = request ? json_dumps(request, JSON_COMPACT) : NULL;
        if (!body) {
                r = -ENOMEM;
                goto out;
        }
        r = post_once(e, "/v3/auth/authenticate", body, &resp);
        if (r < 0)
                goto out;
        answer = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
        token = json_string_value(json_object_get(answer, "token"));
        if (!token) {
                r = set_error(e, -EPERM, "%s: authentication gave no token", etcd_endpoint(e));
                goto out;
        }
        free(e->token);
        e->token = strdup(token);
        r = e->token ? 0 : -ENOMEM;
out:
        if (r == -EACCES || r == -EINVAL)
                r = -EPERM; /* wrong user or password */
        if (content) {
                OPENSSL_cleanse(content, len);
                free(content);
        }
        if (body) {
                OPENSSL_cleanse(body, strlen(body));
                free(body);
        }
        if (request) {
                json_t *p = json_object_get(request, "password");
                OPENSSL_cleanse((char *) json_string_value(p), json_string_length(p));
        }
        json_decref(request);
        json_decref(answer);
        free(resp.data);
        return r;
}

/* A unary call: tries each endpoint once from the current one, buying a
 * token first when credentials are set, and again once when etcd says the
 * token is no longer valid; no further endpoint once timeout_ms has passed,
 * so one call takes at most about twice that however many endpoints fail.
 * *ret gets the answer's JSON. */
static int call(etcd *e, const char *path, json_t *request, json_t **ret) {
        char *body = json_dumps(request, JSON_COMPACT);
        int64_t deadline = host_now_ms() + e->timeout_ms;
        int r = -ECONNREFUSED;

        if (!body)
                return -ENOMEM;
        for (size_t attempt = 0; attempt < e->n_endpoints; attempt++) {
                response resp = { .e = e, .max = ETCD_MAX_RESPONSE };
                bool retried = false;

                if (attempt > 0 && host_now_ms() >= deadline)
                        break;
again:
                if (e->credentials && !e->token) {
                        r = authenticate(e);
                        if (r == -ECONNREFUSED) {
                                etcd_next_endpoint(e);
                                continue;
                        }
                        if (r < 0)
                                break;
                }
                r = post_once(e, path, body, &resp);
                if (r == -EPERM && e->credentials && !retried) {
                        free(e->token);
                        e->token = NULL;
                        retried = true;
                        free(resp.data);
                        resp = (response) { .e = e, .max = ETCD_MAX_RESPONSE };
                        goto again;
                }
                if (r == 0) {
                        json_error_t error;
                        *ret = json_loadb(resp.data ? resp.data : "", resp.len, 0, &error);
                        if (!*ret)
                                r = set_error(e, -EBADMSG, "%s%s: not JSON: %s", etcd_endpoint(e), path, error.text);
                }
                free(resp.data);
                if (r != -ECONNREFUSED)
                        break;
                etcd_next_endpoint(e);
        }
        free(body);
        return r;
}

/* ---- unary calls ------------------------------------------------------- */

int etcd_range_prefix(etcd *e, const char *prefix, int64_t revision, etcd_kvs *ret) {
        char *key = b64_encode(prefix, strlen(prefix)), *end_raw = prefix_end(prefix), *end = NULL;
        json_t *request = NULL, *answer = NULL, *kvs;
        etcd_kvs l = { 0 };
        int r = -ENOMEM;

        if (!key || !end_raw || !(end = b64_encode(end_raw, strlen(end_raw))))
                goto out;
        request = json_pack("{s:s, s:s}", "key", key, "range_end", end);
        if (!request || (revision > 0 && json_object_set_new(request, "revision", json_integer(revision)) < 0))
                goto out;
        r = call(e, "/v3/kv/range", request, &answer);
        if (r < 0)
                goto out;
        l.revision = json_int64(json_object_get(answer, "header"), "revision");
        kvs = json_object_get(answer, "kvs");
        if (kvs && !json_is_array(kvs)) {
                r = set_error(e, -EBADMSG, "%s: range answer without kvs", etcd_endpoint(e));
                goto out;
        }
        l.items = calloc(json_array_size(kvs) + 1, sizeof *l.items);
        if (!l.items) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(kvs); i++) {
                r = parse_kv(json_array_get(kvs, i), false, &l.items[l.n]);
                if (r < 0)
                        goto out;
                l.n++;
        }
        *ret = l;
        l = (etcd_kvs) { 0 };
        r = 0;
out:
        etcd_kvs_clear(&l);
        free(key);
        free(end_raw);
        free(end);
        json_decref(request);
        json_decref(answer);
        return r;
}

int etcd_put(etcd *e, const char *key, const char *value, int64_t lease, int64_t *ret_revision) {
        char *k = b64_encode(key, strlen(key)), *v = b64_encode(value, strlen(value));
        json_t *request = NULL, *answer = NULL;
        int r = -ENOMEM;

        if (!k || !v || !(request = json_pack("{s:s, s:s}", "key", k, "value", v)))
                goto out;
        if (lease > 0 && json_object_set_new(request, "lease", json_integer(lease)) < 0)
                goto out;
        r = call(e, "/v3/kv/put", request, &answer);
        if (r == 0 && ret_revision)
                *ret_revision = json_int64(json_object_get(answer, "header"), "revision");
out:
        free(k);
        free(v);
        json_decref(request);
        json_decref(answer);
        return r;
}

int etcd_put_if_mod(etcd *e, const char *key, const char *value, int64_t mod_revision, bool *ret_put,
                    bool *ret_exists) {
        char *k = b64_encode(key, strlen(key)), *v = b64_encode(value, strlen(value));
        json_t *request = NULL, *answer = NULL, *range;
        int r = -ENOMEM;

        /* When the compare fails, a count of the key tells a change from
         * a deletion. The gateway leaves out a false "succeeded" and a
         * zero "count" (proto3's defaults). */
        if (!k || !v ||
            !(request = json_pack("{s:[{s:s, s:s, s:s, s:I}], s:[{s:{s:s, s:s}}], s:[{s:{s:s, s:b}}]}", "compare",
                                  "result", "EQUAL", "target", "MOD", "key", k, "mod_revision",
                                  (json_int_t) mod_revision, "success", "request_put", "key", k, "value", v, "failure",
                                  "request_range", "key", k, "count_only", true)))
                goto out;
        r = call(e, "/v3/kv/txn", request, &answer);
        if (r < 0)
                goto out;
        *ret_put = json_is_true(json_object_get(answer, "succeeded"));
        range = json_object_get(json_array_get(json_object_get(answer, "responses"), 0), "response_range");
        if (!*ret_put && !json_is_object(range)) {
                r = set_error(e, -EBADMSG, "%s: transaction answer without its range", etcd_endpoint(e));
                goto out;
        }
        *ret_exists = *ret_put || json_int64(range, "count") > 0;
out:
        free(k);
        free(v);
        json_decref(request);
        json_decref(answer);
        return r;
}

int etcd_delete(etcd *e, const char *key, int64_t *ret_deleted, int64_t *ret_revision) {
        char *k = b64_encode(key, strlen(key));
        json_t *request = NULL, *answer = NULL;
        int r = -ENOMEM;

        if (!k || !(request = json_pack("{s:s}", "key", k)))
                goto out;
        r = call(e, "/v3/kv/deleterange", request, &answer);
        if (r == 0 && ret_deleted)
                *ret_deleted = json_int64(answer, "deleted");
        if (r == 0 && ret_revision)
                *ret_revision = json_int64(json_object_get(answer, "header"), "revision");
out:
        free(k);
        json_decref(request);
        json_decref(answer);
        return r;
}

/* A lease call whose request is {field: value}; *ret_answer its answer. */
static int lease_call(etcd *e, const char *path, const char *field, int64_t value, json_t **ret_answer) {
        json_t *request = json_pack("{s:I}", field, (json_int_t) value);
        int r;

        if (!request)
                return -ENOMEM;
        r = call(e, path, request, ret_answer);
        json_decref(request);
        return r;
}

int etcd_lease_grant(etcd *e, int64_t ttl, int64_t *ret_id) {
        json_t *answer = NULL;
        int r = lease_call(e, "/v3/lease/grant", "TTL", ttl, &answer);

        if (r == 0) {
                *ret_id = json_int64(answer, "ID");
                if (*ret_id == 0)
                        r = set_error(e, -EBADMSG, "%s: lease grant without ID", etcd_endpoint(e));
        }
        json_decref(answer);
        return r;
}

int etcd_lease_keepalive(etcd *e, int64_t id, int64_t *ret_ttl) {
        json_t *answer = NULL;
        int r = lease_call(e, "/v3/lease/keepalive", "ID", id, &answer);

        if (r == 0) {
                /* A stream of one: {"result":{"ID","TTL"}}; TTL 0: gone. */
                json_t *result = json_object_get(answer, "result");
                int64_t ttl = json_int64(result ? result : answer, "TTL");
                if (ttl <= 0)
                        r = set_error(e, -ENOENT, "lease %lld expired", (long long) id);
                else if (ret_ttl)
                        *ret_ttl = ttl;
        }
        json_decref(answer);
        return r;
}

int etcd_status(etcd *e, int64_t *ret_revision) {
        json_t *request = json_object(), *answer = NULL;
        int r;

        if (!request)
                return -ENOMEM;
        r = call(e, "/v3/maintenance/status", request, &answer);
        if (r == 0 && ret_revision)
                *ret_revision = json_int64(json_object_get(answer, "header"), "revision");
        json_decref(request);
        json_decref(answer);
        return r;
}

static int64_t wall_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int etcd_clock_skew(etcd *e, int64_t *ret_skew_ms) {
        int64_t before, after;
        int r;

        e->server_date = 0;
        before = wall_ms();
        r = etcd_status(e, NULL);
        after = wall_ms();
        /* A refusal (credentials) is an answer too, with its Date. */
        if (r < 0 && !((r == -EPERM || r == -EACCES) && e->server_date > 0))
                return r;
        if (e->server_date <= 0)
                return set_error(e, -EBADMSG, "%s: no Date header in the answer", etcd_endpoint(e));
        /* The Date header is truncated to the second: its middle, against
         * the middle of the round trip. */
        *ret_skew_ms = (int64_t) e->server_date * 1000 + 500 - (before + after) / 2;
        return r;
}

int etcd_check_credentials(etcd *e) {
        if (!e->credentials)
                return -ENOENT;
        free(e->token);
        e->token = NULL;
        return authenticate(e);
}

int etcd_prefix_readable(etcd *e, const char *prefix) {
        char *key = b64_encode(prefix, strlen(prefix)), *end_raw = prefix_end(prefix), *end = NULL;
        json_t *request = NULL, *answer = NULL;
        int r = -ENOMEM;

        if (!key || !end_raw || !(end = b64_encode(end_raw, strlen(end_raw))))
                goto out;
        request = json_pack("{s:s, s:s, s:i, s:b}", "key", key, "range_end", end, "limit", 1, "keys_only", true);
        if (request)
                r = call(e, "/v3/kv/range", request, &answer);
out:
        free(key);
        free(end_raw);
        free(end);
        json_decref(request);
        json_decref(answer);
        return r;
}

int etcd_count_changed(etcd *e, const char *prefix, int64_t min_mod_revision, int64_t limit, int64_t *ret_count) {
        char *key = b64_encode(prefix, strlen(prefix)), *end_raw = prefix_end(prefix), *end = NULL;
        json_t *request = NULL, *answer = NULL;
        int r = -ENOMEM;

        if (!key || !end_raw || !(end = b64_encode(end_raw, strlen(end_raw))))
                goto out;
        /* Not count_only: etcd counts the range before the revision
         * filter. With a filter, etcd applies the limit after it. */
        request = json_pack("{s:s, s:s, s:b, s:I, s:I}", "key", key, "range_end", end, "keys_only", true,
                            "min_mod_revision", (json_int_t) (min_mod_revision > 0 ? min_mod_revision : 1), "limit",
                            (json_int_t) limit);
        if (!request)
                goto out;
        r = call(e, "/v3/kv/range", request, &answer);
        if (r < 0)
                goto out;
        *ret_count = (int64_t) json_array_size(json_object_get(answer, "kvs"));
out:
        free(key);
        free(end_raw);
        free(end);
        json_decref(request);
        json_decref(answer);
        return r;
}

int etcd_lease_revoke(etcd *e, int64_t id) {
        json_t *answer = NULL;
        int r = lease_call(e, "/v3/lease/revoke", "ID", id, &answer);

        json_decref(answer);
        return r;
}

/* ---- watch ------------------------------------------------------------- */

/* One message of the watch stream: {"result":{...}} or {"error":{...}}.
 * Returns 0 to go on, or decides the watch's outcome. */
static int watch_message(response *resp, json_t *message) {
        json_t *result = json_object_get(message, "result"), *events;
        etcd_kv *kvs = NULL;
        size_t n = 0;
        int64_t revision;
        int r = 0;

        if (!result) {
                json_t *error = json_object_get(message, "error");
                r = gateway_error(resp->e, error ? error : message, 200);
                return r < 0 ? r : -EIO;
        }
        if (json_int64(result, "compact_revision") > 0) {
                resp->compacted = json_int64(result, "compact_revision");
                set_error(resp->e, 0, "revision compacted at %lld", (long long) resp->compacted);
                return -ESTALE;
        }
        if (json_is_true(json_object_get(result, "canceled"))) {
                const char *reason = json_string_value(json_object_get(result, "cancel_reason"));
                set_error(resp->e, 0, "watch canceled: %s", reason ? reason : "no reason given");
                return reason && strstr(reason, "compacted") ? -ESTALE : -ECONNRESET;
        }
        if (json_is_true(json_object_get(result, "created")) && resp->ready)
                resp->ready(resp->userdata);
        revision = json_int64(json_object_get(result, "header"), "revision");
        events = json_object_get(result, "events");
        if (!json_is_array(events) || json_array_size(events) == 0)
                return 0;
        kvs = calloc(json_array_size(events), sizeof *kvs);
        if (!kvs)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(events); i++) {
                json_t *ev = json_array_get(events, i);
                const char *type = json_string_value(json_object_get(ev, "type"));
                r = parse_kv(json_object_get(ev, "kv"), type && strcmp(type, "DELETE") == 0, &kvs[n]);
                if (r < 0)
                        goto out;
                n++;
        }
        if (resp->fn(resp->userdata, kvs, n, revision) != 0)
                r = 1;
out:
        for (size_t i = 0; i < n; i++) {
                free(kvs[i].key);
                free(kvs[i].value);
        }
        free(kvs);
        return r;
}

/* Takes every complete JSON message from the buffer. */
static int watch_drain(response *resp) {
        size_t used = 0;

        while (used < resp->len) {
                json_error_t error;
                json_t *message;
                int r;

                while (used < resp->len && strchr(" \r\n\t", resp->data[used]))
                        used++;
                if (used == resp->len)
                        break;
                message = json_loadb(resp->data + used, resp->len - used, JSON_DISABLE_EOF_CHECK, &error);
                if (!message)
                        break; /* incomplete: wait for more */
                used += error.position;
                r = watch_message(resp, message);
                json_decref(message);
                if (r != 0) {
                        resp->done = true;
                        resp->result = r > 0 ? 0 : r;
                        break;
                }
        }
        memmove(resp->data, resp->data + used, resp->len - used);
        resp->len -= used;
        return resp->done ? -1 : 0;
}

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        response *resp = userdata;
        size_t len = size * n;

        if (resp->len + len > resp->max)
                return 0; /* too big: CURLE_WRITE_ERROR */
        if (resp->len + len + 1 > resp->size) {
                size_t grown = resp->size ? resp->size * 2 : 4096;
                char *p;
                while (grown < resp->len + len + 1)
                        grown *= 2;
                p = realloc(resp->data, grown);
                if (!p)
                        return 0;
                resp->data = p;
                resp->size = grown;
        }
        memcpy(resp->data + resp->len, data, len);
        resp->len += len;
        resp->data[resp->len] = '\0';
        if (resp->watch && watch_drain(resp) < 0)
                return 0; /* decided: end the transfer */
        return len;
}

int etcd_watch(etcd *e, const char *prefix, int64_t start_revision, const volatile bool *stop,
               void (*ready)(void *userdata), etcd_watch_fn fn, void *userdata, int64_t *ret_compacted) {
        char *key = b64_encode(prefix, strlen(prefix)), *end_raw = prefix_end(prefix), *end = NULL, *body = NULL;
        response resp = { .e = e,
                          .max = ETCD_MAX_MESSAGE,
                          .watch = true,
                          .stop = stop,
                          .ready = ready,
                          .fn = fn,
                          .userdata = userdata };
        json_t *request = NULL;
        int r = -ENOMEM;

        if (!key || !end_raw || !(end = b64_encode(end_raw, strlen(end_raw))))
                goto out;
        request = json_pack("{s:{s:s, s:s, s:I}}", "create_request", "key", key, "range_end", end, "start_revision",
                            (json_int_t) start_revision);
        body = request ? json_dumps(request, JSON_COMPACT) : NULL;
        if (!body)
                goto out;
        if (e->credentials && !e->token) {
                r = authenticate(e);
                if (r < 0)
                        goto out;
        }
        r = post_once(e, "/v3/watch", body, &resp);
        if (r == -EPERM && e->credentials) {
                free(e->token);
                e->token = NULL;
        }
        if (r == -ESTALE && ret_compacted)
                *ret_compacted = resp.compacted;
out:
        free(key);
        free(end_raw);
        free(end);
        free(body);
        free(resp.data);
        json_decref(request);
        return r;
}
