/* SPDX-License-Identifier: MIT */
/* The credentials section and secret references ({file: PATH} or
 * {credential: NAME}): their kinds and checks, including the secret file's
 * type and mode. Never reads a secret's content. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"

/* ---- secrets and files -------------------------------------------------- */

static void check_secret_file(Loader *l, ConfigPos pos, const char *path, const char *what) {
        struct stat st;
        _cleanup_close_ int fd = -1;

        if (stat(path, &st) < 0) {
                error_at(l, pos, "%s %s: %m", what, path);
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                error_at(l, pos, "%s %s is not a regular file", what, path);
                return;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                error_at(l, pos, "%s %s is accessible by group or others (mode %04o); make it private: chmod 0600 %s",
                         what, path, (unsigned) (st.st_mode & 07777), path);
                return;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                error_at(l, pos, "%s %s cannot be read: %m", what, path);
                return;
        }
        if (st.st_size == 0)
                error_at(l, pos, "%s %s is empty", what, path);
}

static bool credential_name_valid(const char *s) {
        return is_word(s, 255, true) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

typedef struct SecretWalk {
        SecretRef *ref;
        const char *what;
} SecretWalk;

static void on_secret_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        SecretWalk *w = userdata;
        const char *s;

        if (w->ref->source != SECRET_NONE) {
                error_at(l, node_pos(key), "%s takes one of file or credential, not both", w->what);
                return;
        }
        if (index == 0) {  /* file */
                s = scalar_text(l, value, "file");
                if (!s || check_absolute_path(l, value, "file", s) < 0)
                        return;
                w->ref->source = SECRET_FILE;
        } else {  /* credential */
                s = scalar_text(l, value, "credential");
                if (!s)
                        return;
                if (!credential_name_valid(s)) {
                        error_at(l, node_pos(value), "credential '%s' is not a valid systemd credential name", s);
                        return;
                }
                w->ref->source = SECRET_CREDENTIAL;
        }
        w->ref->pos = node_pos(value);
        if (set_string(l, &w->ref->ref, s) < 0)
                w->ref->source = SECRET_NONE;
}

static int parse_secret_ref(Loader *l, const YamlNode *v, const char *what, SecretRef *ref) {
        static const char *const keys[] = { "file", "credential" };
        SecretWalk w = { ref, what };
        size_t n_errors = l->errors->n_errors;

        /* Never echo the value: a scalar here is most likely the secret itself. */
        if (v && v->type != YAML_TREE_MAPPING)
                return error_at(l, node_pos(v),
                                "%s must be a reference, {file: /path} or {credential: NAME}: secrets are never written in the configuration",
                                what);
        walk_mapping(l, v, what, keys, ELEMENTSOF(keys), on_secret_key, &w);
        if (ref->source == SECRET_NONE) {
                if (l->errors->n_errors == n_errors)
                        error_at(l, node_pos(v), "%s needs file: /path or credential: NAME", what);
                return -EINVAL;
        }
        if (ref->source == SECRET_FILE)
                check_secret_file(l, ref->pos, ref->ref, "secret file");
        else if (l->credentials_directory) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", l->credentials_directory, ref->ref) < 0) {
                        l->oom = true;
                        return -ENOMEM;
                }
                check_secret_file(l, ref->pos, p, "credential file");
        }
        return 0;
}

static void secret_ref_done(SecretRef *r) {
        free(r->ref);
        *r = (SecretRef) {};
}

/* ---- credentials -------------------------------------------------------- */

enum {
        CRED_KEY_ACCESS_KEY,
        CRED_KEY_SECRET_KEY,
        CRED_KEY_SECURITY_TOKEN,
        CRED_KEY_ECS_METADATA,
        CRED_KEY_IAM_PASSWORD,
        CRED_KEY_TOKEN,
        CRED_KEY_IDENTITY,
        _CRED_KEY_MAX,
};

static const char *const credential_keys[_CRED_KEY_MAX] = {
        [CRED_KEY_ACCESS_KEY] = "access-key",
        [CRED_KEY_SECRET_KEY] = "secret-key",
        [CRED_KEY_SECURITY_TOKEN] = "security-token",
        [CRED_KEY_ECS_METADATA] = "ecs-metadata",
        [CRED_KEY_IAM_PASSWORD] = "iam-password",
        [CRED_KEY_TOKEN] = "token",
        [CRED_KEY_IDENTITY] = "identity",
};

static const char *const credential_kind_names[_CREDENTIAL_KIND_MAX] = {
        [CREDENTIAL_AKSK] = "access-key",
        [CREDENTIAL_TEMPORARY_AKSK] = "temporary-access-key",
        [CREDENTIAL_ECS_METADATA] = "ecs-metadata",
        [CREDENTIAL_IAM_PASSWORD] = "iam-password",
        [CREDENTIAL_TOKEN] = "token",
};

const char *credential_kind_to_string(CredentialKind k) {
        return k >= 0 && k < _CREDENTIAL_KIND_MAX ? credential_kind_names[k] : NULL;
}

typedef struct CredentialWalk {
        Credential *cred;
        bool seen[_CRED_KEY_MAX];
        ConfigPos pos[_CRED_KEY_MAX];
} CredentialWalk;

static void on_ecs_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        Credential *c = userdata;
        parse_url(l, value, "endpoint", &c->metadata_endpoint, true);
}

static void on_iam_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        Credential *c = userdata;
        const char *s;

        switch (index) {
        case 0:
        case 1:
                s = scalar_text(l, value, key->value);
                if (!s)
                        return;
                if (has_control_chars(s) || strlen(s) > 255) {
                        error_at(l, node_pos(value), "%s must be at most 255 characters without control characters", key->value);
                        return;
                }
                set_string(l, index == 0 ? &c->iam_domain : &c->iam_user, s);
                return;
        case 2:
                parse_secret_ref(l, value, "password", &c->password);
                return;
        }
}

static void on_credential_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        CredentialWalk *w = userdata;
        Credential *c = w->cred;

        w->seen[index] = true;
        w->pos[index] = node_pos(key);

        switch (index) {
        case CRED_KEY_ACCESS_KEY:
                parse_secret_ref(l, value, "access-key", &c->access_key);
                break;
        case CRED_KEY_SECRET_KEY:
                parse_secret_ref(l, value, "secret-key", &c->secret_key);
                break;
        case CRED_KEY_SECURITY_TOKEN:
                parse_secret_ref(l, value, "security-token", &c->security_token);
                break;
        case CRED_KEY_TOKEN:
                parse_secret_ref(l, value, "token", &c->token);
                break;
        case CRED_KEY_IDENTITY: {
                /* What the certificates' CN names, for a revocation. */
                const char *s = scalar_text(l, value, "identity");
                if (s && strcmp(s, "user") != 0 && strcmp(s, "agency") != 0)
                        error_at(l, node_pos(value), "identity must be user or agency");
                else if (s)
                        c->identity = strcmp(s, "agency") == 0 ? CREDENTIAL_IDENTITY_AGENCY : CREDENTIAL_IDENTITY_USER;
                break;
        }
        case CRED_KEY_ECS_METADATA: {
                static const char *const keys[] = { "endpoint" };
                if (yaml_node_is_null(value))
                        break;
                walk_mapping(l, value, "ecs-metadata", keys, ELEMENTSOF(keys), on_ecs_key, c);
                break;
        }
        case CRED_KEY_IAM_PASSWORD: {
                static const char *const keys[] = { "domain", "user", "password" };
                if (walk_mapping(l, value, "iam-password", keys, ELEMENTSOF(keys), on_iam_key, c) < 0)
                        break;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (!yaml_mapping_get(value, keys[i]))
                                error_at(l, node_pos(value), "iam-password needs %s", keys[i]);
                break;
        }
        }
}

static void parse_credential(Loader *l, const YamlNode *key, const YamlNode *value, Credential *c) {
        CredentialWalk w = { .cred = c };
        static const struct {
                CredentialKind kind;
                unsigned keys;  /* bit mask of CRED_KEY_* */
        } groups[] = {
                { CREDENTIAL_AKSK, 1u << CRED_KEY_ACCESS_KEY | 1u << CRED_KEY_SECRET_KEY | 1u << CRED_KEY_SECURITY_TOKEN },
                { CREDENTIAL_ECS_METADATA, 1u << CRED_KEY_ECS_METADATA },
                { CREDENTIAL_IAM_PASSWORD, 1u << CRED_KEY_IAM_PASSWORD },
                { CREDENTIAL_TOKEN, 1u << CRED_KEY_TOKEN },
        };
        unsigned seen = 0;
        const char *first = NULL;
        char where[300];

        c->kind = _CREDENTIAL_KIND_INVALID;
        c->pos = node_pos(key);
        snprintf(where, sizeof(where), "credentials '%s'", c->name);
        if (walk_mapping(l, value, where, credential_keys, _CRED_KEY_MAX, on_credential_key, &w) < 0)
                return;

        for (size_t i = 0; i < _CRED_KEY_MAX; i++)
                if (w.seen[i])
                        seen |= 1u << i;

        for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
                if (!(seen & groups[g].keys))
                        continue;
                if (c->kind != _CREDENTIAL_KIND_INVALID) {
                        for (size_t i = 0; i < _CRED_KEY_MAX; i++)
                                if (groups[g].keys & (1u << i) && w.seen[i]) {
                                        error_at(l, w.pos[i], "credentials '%s' mixes %s with %s: give exactly one kind of credential",
                                                 c->name, credential_keys[i], first);
                                        break;
                                }
                        continue;
                }
                c->kind = groups[g].kind;
                for (size_t i = 0; i < _CRED_KEY_MAX && !first; i++)
                        if (groups[g].keys & (1u << i) && w.seen[i])
                                first = credential_keys[i];
        }

        if (c->kind == _CREDENTIAL_KIND_INVALID) {
                error_at(l, node_pos(value),
                         "credentials '%s' has no credential: give access-key and secret-key, ecs-metadata, iam-password or token",
                         c->name);
                return;
        }
        if (c->kind == CREDENTIAL_AKSK) {
                if (!w.seen[CRED_KEY_ACCESS_KEY])
                        error_at(l, node_pos(value), "credentials '%s' has secret-key but no access-key", c->name);
                if (!w.seen[CRED_KEY_SECRET_KEY])
                        error_at(l, node_pos(value), "credentials '%s' has access-key but no secret-key", c->name);
                if (w.seen[CRED_KEY_SECURITY_TOKEN])
                        c->kind = CREDENTIAL_TEMPORARY_AKSK;
        }
        /* Keys from ECS metadata are an agency's. */
        if (c->identity == CREDENTIAL_IDENTITY_DEFAULT)
                c->identity = c->kind == CREDENTIAL_ECS_METADATA ? CREDENTIAL_IDENTITY_AGENCY : CREDENTIAL_IDENTITY_USER;
}

void credential_done(Credential *c) {
        free(c->name);
        secret_ref_done(&c->access_key);
        secret_ref_done(&c->secret_key);
        secret_ref_done(&c->security_token);
        free(c->metadata_endpoint);
        free(c->iam_domain);
        free(c->iam_user);
        secret_ref_done(&c->password);
        secret_ref_done(&c->token);
}

static int dup_string(char **s) {
        return *s && !(*s = strdup(*s)) ? -ENOMEM : 0;
}

int credential_copy(Credential *dst, const Credential *src) {
        *dst = *src;
        /* Each pointer is replaced by its copy, or by NULL when that fails:
         * credential_done() then frees exactly the copies. */
        char **fields[] = {
                &dst->name, &dst->access_key.ref, &dst->secret_key.ref, &dst->security_token.ref,
                &dst->metadata_endpoint, &dst->iam_domain, &dst->iam_user, &dst->password.ref, &dst->token.ref,
        };
        int r = 0;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (r < 0)
                        *fields[i] = NULL;
                else
                        r = dup_string(fields[i]);
        if (r < 0)
                credential_done(dst);
        return r;
}

void parse_credentials(Loader *l, const YamlNode *map) {
        Config *cfg = l->config;

        if (!map || map->type != YAML_TREE_MAPPING) {
                error_at(l, node_pos(map), "credentials must be a mapping of names to credentials, not %s",
                         yaml_node_type_name(map));
                return;
        }
        cfg->credentials = calloc(MAX(yaml_node_size(map), 1u), sizeof(Credential));
        if (!cfg->credentials) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                const YamlNode *k = map->children[i], *v = map->children[i + 1];

                if (k->type != YAML_TREE_SCALAR || !credential_name_valid(k->value) || strlen(k->value) > 63) {
                        error_at(l, node_pos(k), "credentials names must be 1 to 63 letters, digits, '-', '_' or '.'");
                        continue;
                }
                bool duplicate = false;
                for (size_t j = 0; j < cfg->n_credentials; j++)
                        if (strcmp(cfg->credentials[j].name, k->value) == 0) {
                                error_at(l, node_pos(k), "duplicate credentials '%s' (first at line %u column %u)",
                                         k->value, cfg->credentials[j].pos.line, cfg->credentials[j].pos.column);
                                duplicate = true;
                        }
                if (duplicate)
                        continue;
                Credential *c = &cfg->credentials[cfg->n_credentials++];
                if (set_string(l, &c->name, k->value) < 0)
                        return;
                parse_credential(l, k, v, c);
        }
}

const Credential *find_credential(const Config *cfg, const char *name) {
        for (size_t i = 0; i < cfg->n_credentials; i++)
                if (strcmp(cfg->credentials[i].name, name) == 0)
                        return &cfg->credentials[i];
        return NULL;
}
