/*
 * gateway.ledger._spanscan: the verifier's fast path in compiled code (docs/adr/0018).
 *
 * span(path, first, last, actions, outcomes, body_keys, version) reads ledger entries
 * first..last from an SQLite file and checks each of them exactly as verify.row_is_sound does:
 * consecutive sequence numbers, links inside the span, a body in the canonical shape, the leaf's
 * SHA-256, the subject commitment and the salt's one stored form. It returns
 *
 *     (count, first_seq, first_prev, last_seq, last_hash, seals)
 *
 * with seals = [(seq, entry_hash, seal), ...] for the caller to check (public-key work stays in
 * Python, on `cryptography`), or None: "not sure, check this span the long way". It says None
 * for anything outside the plainest form — a value that is not printable ASCII, a quote or a
 * backslash (which would need JSON escapes), a removed subject index, a stored type that is not
 * the column's — so it never decides a failure and never needs to name one: the Python path,
 * which a test holds this to, does both. A "sound" here implies row_is_sound on every row.
 *
 * The scan runs without the GIL (it touches only SQLite and its own buffers), so spans can be
 * checked on several threads of one process.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: no per-call algorithm fetch */
#include <Python.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 32
#define HASH_HEX 64
#define SAFE_INT 9007199254740992LL /* 2**53 */

/* Column order of the SELECT below. */
enum {
    C_SEQ, C_PREV, C_TIME, C_ACTION, C_POLICY, C_OIN, C_PURPOSE, C_CASE, C_OUTCOME,
    C_REVIEW, C_COMMIT, C_BODY, C_HASH, C_SEAL, C_SUBJECT, C_SALT, N_COLUMNS
};

static const char *SELECT_SQL =
    "SELECT seq, prev_hash, time, action, policy_version, requester_oin, purpose, case_id, "
    "outcome, review, subject_commit, body, entry_hash, seal, subject, subject_salt "
    "FROM ledger_entry WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq";

typedef struct {
    const char *p;
    int n;
} text_t;

typedef struct {
    int count;
    text_t items[MAX_NAMES];
} names_t;

typedef struct {
    long long seq;
    char hash[HASH_HEX];
    char *seal;
    int seal_len;
} seal_t;

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

typedef struct {
    /* in */
    const char *path;
    long long first, last;
    names_t actions, outcomes, body_keys;
    long long version;
    /* out */
    int sure;
    long long count, first_seq, last_seq;
    char first_prev[HASH_HEX], last_hash[HASH_HEX];
    seal_t *seals;
    size_t n_seals, cap_seals;
} scan_t;

/* Printable ASCII with nothing JSON would escape: the form every value of a plain entry has.
 * Eight bytes at a time (this runs over every byte of every entry): a word holds a byte below
 * 0x20, at or above 0x7f, or equal to '"' or '\\' exactly when the matching mask is non-zero. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t zero_byte(uint64_t x) { return (x - ONES) & ~x & HIGHS; }

static inline int plain_word(uint64_t x) {
    uint64_t below = (x - ONES * 0x20) & ~x & HIGHS;
    uint64_t above = (((x & ~HIGHS) + ONES) | x) & HIGHS;
    return !(below | above | zero_byte(x ^ (ONES * '"')) | zero_byte(x ^ (ONES * '\\')));
}

static int plain(const unsigned char *s, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (!plain_word(x)) return 0;
    }
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return 0;
    }
    return 1;
}

/* Decimal digits of n (no locale, no printf: this runs for every entry). */
static size_t decimal(long long n, char *out) {
    char digits[24];
    size_t len = 0;
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    do {
        digits[len++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t at = 0;
    if (n < 0) out[at++] = '-';
    while (len) out[at++] = digits[--len];
    return at;
}

static int text_col(sqlite3_stmt *st, int col, text_t *out) {
    if (sqlite3_column_type(st, col) != SQLITE_TEXT) return 0;
    /* NOTE: the blob accessor on a text value: the same bytes, but not copied to add a NUL
     * (column_text copies every value it returns from a page: a seventh of the scan). */
    out->p = (const char *)sqlite3_column_blob(st, col);
    out->n = sqlite3_column_bytes(st, col);
    if (out->p == NULL) {
        if (out->n != 0) return 0;
        out->p = ""; /* an empty value: never a null pointer to compare or copy from */
    }
    return 1;
}

static int plain_col(sqlite3_stmt *st, int col, text_t *out) {
    return text_col(st, col, out) && plain((const unsigned char *)out->p, out->n);
}

static int member(const names_t *names, const text_t *t) {
    for (int i = 0; i < names->count; i++)
        if (names->items[i].n == t->n && memcmp(names->items[i].p, t->p, t->n) == 0) return 1;
    return 0;
}

static int grow(buf_t *b, size_t need) {
    if (b->len + need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static int put(buf_t *b, const char *s, size_t n) {
    if (!grow(b, n)) return 0;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 1;
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static int put_str(buf_t *b, const text_t *t) {
    return put(b, "\"", 1) && put(b, t->p, (size_t)t->n) && put(b, "\"", 1);
}

/* The body: {"k1":"v1",...} with exactly the sealed body's keys in sorted order, every value
 * plain (so the text is RFC 8785 of the strings it holds, as verify._CANONICAL_BODY says). */
static int canonical_body(const text_t *body, const names_t *keys) {
    const char *p = body->p, *end = body->p + body->n;
    for (int i = 0; i < keys->count; i++) {
        if (p >= end || *p++ != (i ? ',' : '{')) return 0;
        const text_t *k = &keys->items[i];
        if (end - p < k->n + 4 || *p != '"' || memcmp(p + 1, k->p, k->n) != 0) return 0;
        p += 1 + k->n;
        if (*p++ != '"' || *p++ != ':' || *p++ != '"') return 0;
        const char *close = memchr(p, '"', (size_t)(end - p));
        if (close == NULL || !plain((const unsigned char *)p, (int)(close - p))) return 0;
        p = close + 1;
    }
    return p + 1 == end && *p == '}';
}

static void to_hex(const unsigned char *d, int n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* upper case too: bytes.fromhex(s).hex() == s only for the lower-case form */
}

/* subject_commit == SHA-256(bytes.fromhex(salt) || subject), salt in its one stored form. */
static int commitment_holds(const text_t *subject, const text_t *salt, const text_t *commit) {
    unsigned char raw[256], digest[SHA256_DIGEST_LENGTH];
    char hex[HASH_HEX];
    if (salt->n % 2 != 0 || salt->n / 2 > (int)sizeof raw || commit->n != HASH_HEX) return 0;
    for (int i = 0; i < salt->n; i += 2) {
        int hi = hex_value(salt->p[i]), lo = hex_value(salt->p[i + 1]);
        if (hi < 0 || lo < 0) return 0;
        raw[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, raw, (size_t)salt->n / 2);
    SHA256_Update(&ctx, subject->p, (size_t)subject->n);
    SHA256_Final(digest, &ctx);
    to_hex(digest, SHA256_DIGEST_LENGTH, hex);
    return memcmp(hex, commit->p, HASH_HEX) == 0;
}

/* One row; 1 if it is sound (as row_is_sound), 0 if not sure. */
static int row_sound(scan_t *s, sqlite3_stmt *st, long long expected, const char *prev,
                     buf_t *leaf) {
    if (sqlite3_column_type(st, C_SEQ) != SQLITE_INTEGER) return 0;
    long long seq = sqlite3_column_int64(st, C_SEQ);
    if (seq != expected || seq <= -SAFE_INT || seq >= SAFE_INT) return 0;
    text_t v[N_COLUMNS];
    static const int plain_cols[] = {C_PREV, C_TIME, C_ACTION, C_POLICY, C_OIN, C_PURPOSE,
                                     C_CASE, C_OUTCOME, C_COMMIT, C_HASH, C_SUBJECT, C_SALT};
    for (size_t i = 0; i < sizeof plain_cols / sizeof plain_cols[0]; i++)
        if (!plain_col(st, plain_cols[i], &v[plain_cols[i]])) return 0;
    if (!text_col(st, C_BODY, &v[C_BODY])) return 0;
    /* NOTE: the length on every row, the span's first too: its link is copied out (64 bytes)
     * for the caller to check, and a shorter value must not be read past its end. */
    if (v[C_PREV].n != HASH_HEX) return 0;
    if (prev != NULL && memcmp(v[C_PREV].p, prev, HASH_HEX) != 0) return 0;
    if (sqlite3_column_type(st, C_REVIEW) != SQLITE_INTEGER) return 0;
    long long review = sqlite3_column_int64(st, C_REVIEW);
    if (review != 0 && review != 1) return 0;
    if (!member(&s->outcomes, &v[C_OUTCOME]) || !member(&s->actions, &v[C_ACTION])) return 0;
    if (!canonical_body(&v[C_BODY], &s->body_keys)) return 0;

    /* The leaf, in RFC 8785's key order, as entry.leaf_text writes it. */
    char number[24];
    leaf->len = 0;
    int ok = put(leaf, "\0", 1) && PUT_LIT(leaf, "{\"action\":") && put_str(leaf, &v[C_ACTION]) &&
             PUT_LIT(leaf, ",\"body\":") && put(leaf, v[C_BODY].p, (size_t)v[C_BODY].n) &&
             PUT_LIT(leaf, ",\"case_id\":") && put_str(leaf, &v[C_CASE]) &&
             PUT_LIT(leaf, ",\"outcome\":") && put_str(leaf, &v[C_OUTCOME]) &&
             PUT_LIT(leaf, ",\"policy_version\":") && put_str(leaf, &v[C_POLICY]) &&
             PUT_LIT(leaf, ",\"prev_hash\":") && put_str(leaf, &v[C_PREV]) &&
             PUT_LIT(leaf, ",\"purpose\":") && put_str(leaf, &v[C_PURPOSE]) &&
             PUT_LIT(leaf, ",\"requester_oin\":") && put_str(leaf, &v[C_OIN]) &&
             (review ? PUT_LIT(leaf, ",\"review\":true") : PUT_LIT(leaf, ",\"review\":false"));
    ok = ok && PUT_LIT(leaf, ",\"seq\":") && put(leaf, number, decimal(seq, number)) &&
         PUT_LIT(leaf, ",\"subject_commit\":") && put_str(leaf, &v[C_COMMIT]) &&
         PUT_LIT(leaf, ",\"time\":") && put_str(leaf, &v[C_TIME]) &&
         PUT_LIT(leaf, ",\"v\":") && put(leaf, number, decimal(s->version, number)) &&
         PUT_LIT(leaf, "}");
    if (!ok) return 0;

    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[HASH_HEX];
    SHA256((const unsigned char *)leaf->p, leaf->len, digest);
    to_hex(digest, SHA256_DIGEST_LENGTH, hex);
    if (v[C_HASH].n != HASH_HEX || memcmp(hex, v[C_HASH].p, HASH_HEX) != 0) return 0;
    if (!commitment_holds(&v[C_SUBJECT], &v[C_SALT], &v[C_COMMIT])) return 0;

    int seal_type = sqlite3_column_type(st, C_SEAL);
    if (seal_type == SQLITE_TEXT) {
        text_t seal;
        if (!plain_col(st, C_SEAL, &seal)) return 0;
        if (s->n_seals == s->cap_seals) {
            size_t cap = s->cap_seals ? 2 * s->cap_seals : 16;
            seal_t *grown = realloc(s->seals, cap * sizeof *grown);
            if (grown == NULL) return 0;
            s->seals = grown;
            s->cap_seals = cap;
        }
        seal_t *out = &s->seals[s->n_seals];
        out->seal = malloc((size_t)seal.n + 1);
        if (out->seal == NULL) return 0;
        memcpy(out->seal, seal.p, (size_t)seal.n);
        out->seal_len = seal.n;
        out->seq = seq;
        memcpy(out->hash, hex, HASH_HEX);
        s->n_seals++;
    } else if (seal_type != SQLITE_NULL) {
        return 0;
    }
    if (s->count == 0) {
        s->first_seq = seq;
        memcpy(s->first_prev, v[C_PREV].p, HASH_HEX);
    }
    s->last_seq = seq;
    memcpy(s->last_hash, hex, HASH_HEX);
    return 1;
}

static void scan(scan_t *s) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    buf_t leaf = {0};
    s->sure = 0;
    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, SELECT_SQL, -1, &st, NULL) != SQLITE_OK) {
        goto done; /* not sure: the long way reads it, or says why it cannot */
    }
    sqlite3_busy_timeout(db, 5000);
    /* Pages read through a map, not copied by a system call each (measured: 538k entries/s
     * without, 635k with, at 10^6). NOTE: SQLite never shortens the file under a reader: the
     * statement's read transaction keeps a checkpoint (WAL) or a writer (rollback journal) from
     * it. Only something outside SQLite cutting the file could, and that ends the process with
     * SIGBUS — no verdict, so nothing passes. */
    sqlite3_exec(db, "PRAGMA mmap_size=1073741824", NULL, NULL, NULL);
    sqlite3_bind_int64(st, 1, s->first);
    sqlite3_bind_int64(st, 2, s->last);
    long long expected = 0;
    const char *prev = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (s->count == 0) expected = sqlite3_column_int64(st, C_SEQ);
        if (!row_sound(s, st, expected, prev, &leaf)) goto done;
        prev = s->last_hash;
        expected++;
        s->count++;
    }
    s->sure = rc == SQLITE_DONE;
done:
    free(leaf.p);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int read_names(PyObject *seq, names_t *out, const char *what) {
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL) return 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > MAX_NAMES) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%s: at most %d names", what, MAX_NAMES);
        return 0;
    }
    out->count = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        Py_ssize_t len;
        const char *p = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &len) : NULL;
        if (p == NULL) {
            Py_DECREF(fast);
            if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "%s: names are str", what);
            return 0;
        }
        /* NOTE: the pointers stay valid while the caller's tuple lives (it outlives the call). */
        out->items[i].p = p;
        out->items[i].n = (int)len;
    }
    Py_DECREF(fast);
    return 1;
}

static PyObject *span(PyObject *self, PyObject *args) {
    (void)self;
    const char *path;
    PyObject *actions, *outcomes, *body_keys;
    scan_t s;
    memset(&s, 0, sizeof s);
    if (!PyArg_ParseTuple(args, "sLLO!O!O!L", &path, &s.first, &s.last, &PyTuple_Type, &actions,
                          &PyTuple_Type, &outcomes, &PyTuple_Type, &body_keys, &s.version))
        return NULL;
    if (!read_names(actions, &s.actions, "actions") ||
        !read_names(outcomes, &s.outcomes, "outcomes") ||
        !read_names(body_keys, &s.body_keys, "body_keys"))
        return NULL;
    s.path = path;
    Py_BEGIN_ALLOW_THREADS
    scan(&s);
    Py_END_ALLOW_THREADS

    PyObject *result = NULL, *seals = NULL;
    if (!s.sure) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    seals = PyList_New((Py_ssize_t)s.n_seals);
    if (seals == NULL) goto done;
    for (size_t i = 0; i < s.n_seals; i++) {
        PyObject *item = Py_BuildValue("(Ls#s#)", s.seals[i].seq, s.seals[i].hash,
                                       (Py_ssize_t)HASH_HEX, s.seals[i].seal,
                                       (Py_ssize_t)s.seals[i].seal_len);
        if (item == NULL) goto done;
        PyList_SET_ITEM(seals, (Py_ssize_t)i, item);
    }
    if (s.count == 0)
        result = Py_BuildValue("(iOsisO)", 0, Py_None, "", 0, "", seals);
    else
        result = Py_BuildValue("(LLs#Ls#O)", s.count, s.first_seq, s.first_prev,
                               (Py_ssize_t)HASH_HEX, s.last_seq, s.last_hash,
                               (Py_ssize_t)HASH_HEX, seals);
done:
    Py_XDECREF(seals);
    for (size_t i = 0; i < s.n_seals; i++) free(s.seals[i].seal);
    free(s.seals);
    return result;
}

static PyMethodDef methods[] = {
    {"span", span, METH_VARARGS,
     "span(path, first, last, actions, outcomes, body_keys, version) -> tuple | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_spanscan",
    "The ledger verifier's fast path in compiled code (docs/adr/0018).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__spanscan(void) { return PyModule_Create(&module); }
