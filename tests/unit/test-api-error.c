/* SPDX-License-Identifier: MIT */
#include "api-error.h"
#include "macro.h"
#include "tests.h"

static void from(ApiError *e, long status, const char *body) {
        api_error_from_response(e, status, body, body ? strlen(body) : 0, NULL, NULL, 1700000000);
}

TEST(classes) {
        static const struct {
                long status;
                ApiErrorClass klass;
        } cases[] = {
                { 400, API_ERROR_INVALID_REQUEST }, { 401, API_ERROR_AUTHENTICATION },
                { 403, API_ERROR_AUTHENTICATION }, { 404, API_ERROR_NOT_FOUND },
                { 405, API_ERROR_INVALID_REQUEST }, { 408, API_ERROR_TRANSIENT },
                { 409, API_ERROR_INVALID_REQUEST }, { 429, API_ERROR_THROTTLED },
                { 500, API_ERROR_TRANSIENT }, { 502, API_ERROR_TRANSIENT }, { 503, API_ERROR_TRANSIENT },
                { 599, API_ERROR_TRANSIENT }, { 200, API_ERROR_BAD_RESPONSE }, { 302, API_ERROR_BAD_RESPONSE },
                { 100, API_ERROR_BAD_RESPONSE }, { 600, API_ERROR_BAD_RESPONSE },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ApiError e;
                from(&e, cases[i].status, NULL);
                ASSERT_EQ(e.klass, cases[i].klass);
                ASSERT_EQ(e.http_status, cases[i].status);
                ASSERT(e.message[0]);
        }
}

TEST(shapes) {
        ApiError e;
        char buf[512];

        from(&e, 400, "{\"errorCode\":\"CCE.01400001\",\"errorMessage\":\"Invalid request.\"}");
        ASSERT_STREQ(e.code, "CCE.01400001");
        ASSERT_STREQ(e.message, "Invalid request.");

        from(&e, 401, "{\"error_code\":\"APIGW.0301\",\"error_msg\":\"Incorrect IAM authentication information: verify aksk signature fail, CanonicalRequest: POST|/api/v3/|x-security-token:SECRETTOKEN|\",\"request_id\":\"abc123\"}");
        ASSERT_EQ(e.klass, API_ERROR_AUTHENTICATION);
        ASSERT_STREQ(e.code, "APIGW.0301");
        ASSERT_STREQ(e.message, "Incorrect IAM authentication information: verify aksk signature fail, CanonicalRequest: POST");
        ASSERT_STREQ(e.request_id, "abc123");

        from(&e, 429, "{\"error_code\":\"APIG.0308\",\"error_msg\":\"The throttling threshold has been reached\"}");
        ASSERT_EQ(e.klass, API_ERROR_THROTTLED);
        ASSERT_STREQ(e.code, "APIG.0308");

        from(&e, 401, "{\"error_msg\":\"The token is invalid\",\"error_code\":\"IAM.0003\"}");
        ASSERT_STREQ(e.code, "IAM.0003");

        from(&e, 401, "{\"error\":{\"code\":401,\"message\":\"The request you have made requires authentication.\",\"title\":\"Unauthorized\"}}");
        ASSERT_STREQ(e.code, "401");
        ASSERT_STREQ(e.message, "The request you have made requires authentication.");

        from(&e, 403, "{\"error\":{\"code\":403,\"title\":\"Forbidden\"}}");
        ASSERT_STREQ(e.message, "Forbidden");

        from(&e, 502, "<html>Bad gateway</html>");
        ASSERT_EQ(e.klass, API_ERROR_TRANSIENT);
        ASSERT_STREQ(e.code, "");
        ASSERT_STREQ(e.message, "no error details in the answer");

        from(&e, 500, "{\"errorCode\":\"CCE.01500001\",\"errorMessage\":\"line\\nbreak\\u0007bell\"}");
        ASSERT_STREQ(e.message, "line break bell");

        api_error_describe(&e, buf, sizeof(buf));
        ASSERT_STREQ(buf, "transient error: HTTP 500, CCE.01500001: line break bell");
}

TEST(headers) {
        ApiError e;
        api_error_from_response(&e, 429, NULL, 0, "req-1", "120", 1700000000);
        ASSERT_STREQ(e.request_id, "req-1");
        ASSERT(e.has_retry_after);
        ASSERT_EQ(e.retry_after_sec, 120);

        /* 2023-11-14T22:13:20Z is 1700000000; ten seconds later: */
        api_error_from_response(&e, 503, NULL, 0, NULL, "Tue, 14 Nov 2023 22:13:30 GMT", 1700000000);
        ASSERT(e.has_retry_after);
        ASSERT_EQ(e.retry_after_sec, 10);

        api_error_from_response(&e, 503, NULL, 0, NULL, "Tue, 14 Nov 2023 22:00:00 GMT", 1700000000);
        ASSERT_EQ(e.retry_after_sec, 0);

        api_error_from_response(&e, 503, NULL, 0, NULL, "soon", 1700000000);
        ASSERT(!e.has_retry_after);
}

TEST(redact) {
        ApiError e;
        from(&e, 401, "{\"error_code\":\"APIGW.0301\",\"error_msg\":\"unknown AK HPUAEXAMPLEAK0000001 given\"}");
        api_error_redact(&e, "HPUAEXAMPLEAK0000001");
        ASSERT_STREQ(e.message, "unknown AK [redacted] given");
        api_error_redact(&e, NULL);
        api_error_redact(&e, "abc");

        /* Near the end of a full field (found by fuzzing: the bound underflowed). */
        memset(e.code, 'x', sizeof(e.code) - 1);
        memcpy(e.code + sizeof(e.code) - 8, "secret!", 8);
        api_error_redact(&e, "secret");
        ASSERT(strlen(e.code) < sizeof(e.code));
        ASSERT(!strstr(e.code, "secret"));

        /* A secret cut short by truncation leaves no prefix behind. */
        api_error_set(&e, API_ERROR_TRANSIENT, "tail HPUAEXAMPLE");
        api_error_redact(&e, "HPUAEXAMPLEAK0000001");
        ASSERT_STREQ(e.message, "tail ");
}

RUN_TESTS(T(classes), T(shapes), T(headers), T(redact))
