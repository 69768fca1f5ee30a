/* libcurl's multi socket API driven by a libuv loop, without a thread: a
 * uv_poll for each socket curl opens and one uv_timer for its timeouts.
 * Connections are kept in the one multi handle and reused. */
#ifndef TG_CURL_UV_H
#define TG_CURL_UV_H

#include <curl/curl.h>
#include <uv.h>

struct tg_curl_uv;

/* A transfer ended. The easy handle is out of the multi handle already
 * and the caller's again. May add and remove transfers. */
typedef void (*tg_curl_done_fn)(void *arg, CURL *easy, CURLcode result);

/* NULL when out of memory. */
struct tg_curl_uv *tg_curl_uv_new(uv_loop_t *loop, tg_curl_done_fn done, void *arg);

/* For curl_multi_setopt() of limits; the callbacks are taken. */
CURLM *tg_curl_uv_multi(struct tg_curl_uv *cu);

/* Starts a transfer: 0, or -1 when curl refuses it. */
int tg_curl_uv_add(struct tg_curl_uv *cu, CURL *easy);

/* Abandons a transfer; done is not called for it. */
void tg_curl_uv_remove(struct tg_curl_uv *cu, CURL *easy);

/* Remove every transfer first. Closes the connections and the uv handles;
 * closed(arg) is called from the last close callback, when the memory is
 * gone, so the loop must run once more. */
void tg_curl_uv_close(struct tg_curl_uv *cu, void (*closed)(void *arg), void *arg);

#endif
