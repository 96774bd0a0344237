/* processing.artifacts.detect in one compiled call: the same steps as the Python modules, in the same order,
 * with the same floating-point operations, so the classes and the corrected series are identical bit for bit
 * (tests/processing/test_artifacts_kernels.py compares the two on real recordings and random series).
 *
 * The Python code is the reference and the documentation of every rule: __init__.py (detect, the one-window
 * shortcut, the later passes), rules.py (classify, the decision rules), correction.py (_possible,
 * _merge_short, _keep, _correct, _dense) and thresholds.py. Each function here names the one it mirrors.
 * The 5-second update's 60 s window calls detect most often; in numpy its few dozen small calls cost far
 * more than their arithmetic.
 */
#include "_kernels.h"
#include <math.h>
#include <string.h>

static Py_ssize_t n_events(const Cls *c) { return c->npair + c->nmerge + c->nsplit + c->nrepl; }

/* correction._keep: only the events that start where ok (the other classes cleared) */
static void keep(Cls *c, const unsigned char *ok, Work *w) {
    int8_t *classes = (int8_t *)w->tmp; /* n bytes of scratch */
    memset(classes, 0, (size_t)c->n);
    Py_ssize_t *lists[4] = {c->pair, c->merge, c->split, c->repl};
    Py_ssize_t *counts[4] = {&c->npair, &c->nmerge, &c->nsplit, &c->nrepl};
    const int width[4] = {2, 2, 1, 1};
    for (int t = 0; t < 4; t++) {
        Py_ssize_t m = 0;
        for (Py_ssize_t e = 0; e < *counts[t]; e++) {
            Py_ssize_t at = lists[t][e];
            if (!ok[at])
                continue;
            for (int q = 0; q < width[t]; q++)
                classes[at + q] = c->classes[at + q];
            lists[t][m++] = at;
        }
        *counts[t] = m;
    }
    memcpy(c->classes, classes, (size_t)c->n);
}

/* correction._merge_short */
static void merge_short(Cls *c, const double *rr, const Params *p, Work *w) {
    const double tol = 0.10;
    Py_ssize_t n = c->n, nj = 0, *js = w->idx, before = c->nmerge;
    for (Py_ssize_t j = 0; j < n; j++)
        if (rr[j] < p->min_rr && c->classes[j] == 0)
            js[nj++] = j;
    for (Py_ssize_t q = 0; q < nj; q++) {
        Py_ssize_t j = js[q], best = -1;
        double best_err = INFINITY;
        for (Py_ssize_t a = j - 1; a <= j; a++) {
            if (a < 0 || a + 1 >= n || c->classes[a] != 0 || c->classes[a + 1] != 0)
                continue;
            double total = rr[a] + rr[a + 1];
            double err = fabs(total / c->median[j] - 1.0);
            if (p->min_rr <= total && total <= p->max_rr && err <= tol && err < best_err) {
                best = a;
                best_err = err;
            }
        }
        if (best >= 0) {
            c->classes[best] = c->classes[best + 1] = EXTRA;
            c->merge[c->nmerge++] = best;
        }
    }
    if (c->nmerge != before)
        kern_sort_idx(c->merge, c->nmerge);
}

/* correction._possible */
static void possible(Cls *c, const double *rr, const Params *p, Work *w) {
    Py_ssize_t n = c->n;
    int any_short = 0;
    for (Py_ssize_t j = 0; j < n && !any_short; j++)
        any_short = rr[j] < p->min_rr;
    if (!any_short)
        return;
    unsigned char *ok = w->flag2;
    memset(ok, 1, (size_t)n);
#define SHORT_AT(j) (rr[j] < p->min_rr)
    for (Py_ssize_t e = 0; e < c->npair; e++) {
        Py_ssize_t a = c->pair[e];
        if (SHORT_AT(a) || SHORT_AT(a + 1 < n ? a + 1 : n - 1))
            ok[a] = 0;
    }
    for (Py_ssize_t e = 0; e < c->nsplit; e++)
        if (SHORT_AT(c->split[e]))
            ok[c->split[e]] = 0;
    for (Py_ssize_t e = 0; e < c->nrepl; e++)
        if (SHORT_AT(c->repl[e]))
            ok[c->repl[e]] = 0;
#undef SHORT_AT
    for (Py_ssize_t e = 0; e < c->nmerge; e++) {
        Py_ssize_t m = c->merge[e];
        double merged = rr[m] + rr[m + 1 < n ? m + 1 : n - 1];
        if (merged < p->min_rr || merged > p->max_rr)
            ok[m] = 0;
    }
    keep(c, ok, w);
    merge_short(c, rr, p, w);
}

/* correction._correct: rr (n) and its origins into out and out_origin; returns the new size */
static Py_ssize_t correct(const double *rr, const Cls *c, const Py_ssize_t *origin, double *out,
                          Py_ssize_t *out_origin, Work *w) {
    Py_ssize_t n = c->n;
    double *v = w->tmp;
    memcpy(v, rr, (size_t)n * sizeof(double));
    for (Py_ssize_t e = 0; e < c->nrepl; e++)
        v[c->repl[e]] = c->median[c->repl[e]];
    for (Py_ssize_t e = 0; e < c->npair; e++) {
        Py_ssize_t a = c->pair[e];
        double mean = 0.5 * (rr[a] + rr[a + 1]);
        v[a] = v[a + 1] = mean;
    }
    unsigned char *mark = w->flag; /* 1: the second piece of a merge (dropped), 2: split in two */
    memset(mark, 0, (size_t)n);
    double *sums = w->absv;
    for (Py_ssize_t e = 0; e < c->nmerge; e++)
        sums[e] = v[c->merge[e]] + v[c->merge[e] + 1];
    for (Py_ssize_t e = 0; e < c->nmerge; e++) {
        v[c->merge[e]] = sums[e];
        mark[c->merge[e] + 1] = 1;
    }
    for (Py_ssize_t e = 0; e < c->nsplit; e++)
        mark[c->split[e]] = 2;
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (mark[i] == 1)
            continue;
        if (mark[i] == 2) {
            double h = v[i] / 2.0;
            out[m] = out[m + 1] = h;
            out_origin[m] = out_origin[m + 1] = origin[i];
            m += 2;
        } else {
            out[m] = v[i];
            out_origin[m++] = origin[i];
        }
    }
    return m;
}

/* correction._dense over the event starts of c (a series of n) */
static void dense(const Cls *c, const Params *p, unsigned char *out, Work *w) {
    Py_ssize_t n = c->n;
    memset(out, 0, (size_t)n);
    if (n_events(c) < p->dense_events)
        return;
    Py_ssize_t *csum = w->idx; /* n + 2 */
    memset(csum, 0, (size_t)(n + 2) * sizeof(Py_ssize_t));
    const Py_ssize_t *lists[4] = {c->pair, c->merge, c->split, c->repl};
    const Py_ssize_t counts[4] = {c->npair, c->nmerge, c->nsplit, c->nrepl};
    for (int t = 0; t < 4; t++)
        for (Py_ssize_t e = 0; e < counts[t]; e++)
            csum[lists[t][e] + 1]++;
    for (Py_ssize_t i = 1; i < n + 2; i++)
        csum[i] += csum[i - 1];
    Py_ssize_t h = p->window_beats / 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t hi = i + h + 1 < n + 1 ? i + h + 1 : n + 1, lo = i - h > 0 ? i - h : 0;
        out[i] = csum[hi] - csum[lo] >= p->dense_events;
    }
}

static int get_rw(PyObject *obj, Py_buffer *b, const char *fmt, Py_ssize_t itemsize, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, b, flags) < 0)
        return -1;
    if (b->itemsize != itemsize || !b->format || strcmp(b->format, fmt)) {
        PyBuffer_Release(b);
        PyErr_Format(PyExc_TypeError, "expected a contiguous array of format '%s'", fmt);
        return -1;
    }
    return 0;
}

/* detect's own arrays: the series corrected so far and the next one, their origins, the kept intervals'
 * places, the classes of the kept intervals, the dense stretches and the later passes' allowed starts. */
typedef struct {
    double *cur, *next;
    Py_ssize_t *org, *next_org, *kept_at;
    int8_t *inner;
    unsigned char *dense, *allowed;
} Own;

/* One block for every array of a call, each for series of up to nd values (index arrays: nd + 2, the
 * cumulative counts of dense()); NULL when out of memory. */
static char *arena_of(Py_ssize_t nd, Work *w, Cls *c, Own *o) {
    double **doubles[] = {&w->x,   &w->drrs,  &w->medx, &w->th,  &w->d,     &w->absv,
                          &w->qd2, &w->win,   &w->tmp,  &c->median, &o->cur, &o->next};
    Py_ssize_t **indices[] = {&w->big,   &w->idx,  &c->pair, &c->merge,    &c->split,
                              &c->repl,  &o->org,  &o->next_org, &o->kept_at};
    unsigned char **flags[] = {&w->flag, &w->flag2, &o->dense, &o->allowed};
    const size_t nd_ = (size_t)nd, ni = nd_ + 2, n_doubles = sizeof doubles / sizeof *doubles,
                 n_indices = sizeof indices / sizeof *indices, n_flags = sizeof flags / sizeof *flags;
    char *mem = PyMem_Malloc(n_doubles * nd_ * sizeof(double) + n_indices * ni * sizeof(Py_ssize_t) +
                             (n_flags + 2) * nd_);
    if (!mem)
        return NULL;
    char *at = mem;
    for (size_t i = 0; i < n_doubles; i++, at += nd_ * sizeof(double))
        *doubles[i] = (double *)at;
    for (size_t i = 0; i < n_indices; i++, at += ni * sizeof(Py_ssize_t))
        *indices[i] = (Py_ssize_t *)at;
    for (size_t i = 0; i < n_flags; i++, at += nd_)
        *flags[i] = (unsigned char *)at;
    c->classes = (int8_t *)at;
    o->inner = (int8_t *)(at + nd_);
    return mem;
}

/* The corrected series and origins just written to o->next become the current ones. */
static void advance(Own *o) {
    double *v = o->cur;
    Py_ssize_t *g = o->org;
    o->cur = o->next, o->next = v;
    o->org = o->next_org, o->next_org = g;
}

PyObject *kern_detect(PyObject *self, PyObject *args) {
    PyObject *src, *cls_obj, *dst;
    Params p;
    if (!PyArg_ParseTuple(args, "OOOdddddnnnn", &src, &cls_obj, &dst, &p.min_rr, &p.max_rr, &p.alpha, &p.c1,
                          &p.c2, &p.window_beats, &p.medfilt, &p.max_passes, &p.dense_events))
        return NULL;
    if (p.window_beats < 1 || p.medfilt < 1 || p.medfilt % 2 == 0 || p.max_passes < 1) {
        PyErr_SetString(PyExc_ValueError, "need window_beats >= 1, an odd medfilt_beats and max_passes >= 1");
        return NULL;
    }
    Py_buffer bin, bcls, bout;
    if (get_rw(src, &bin, "d", 8, 0) < 0)
        return NULL;
    if (get_rw(cls_obj, &bcls, "b", 1, 1) < 0) {
        PyBuffer_Release(&bin);
        return NULL;
    }
    if (get_rw(dst, &bout, "d", 8, 1) < 0) {
        PyBuffer_Release(&bin);
        PyBuffer_Release(&bcls);
        return NULL;
    }
    const double *rr = bin.buf;
    Py_ssize_t n = bin.len / 8, cap = 2 * n + 1;
    int8_t *classes_out = bcls.buf;
    double *corrected_out = bout.buf;
    PyObject *result = NULL;
    char *mem = NULL;
    int finite = 1;
    for (Py_ssize_t i = 0; i < n && finite; i++)
        finite = isfinite(rr[i]) && rr[i] > 0;
    if (bcls.len != n || bout.len / 8 < cap || !finite) {
        PyErr_SetString(PyExc_ValueError,
                        "need finite positive RR, classes of len(rr) and corrected of 2 * len(rr) + 1");
        goto done;
    }
    Work w;
    Cls c;
    Own o;
    /* room for the corrected series (each interval split at most once), one threshold window and one median
     * window; a mirrored series has 2 * EDGE_BEATS more */
    Py_ssize_t room = cap > 2 * (p.window_beats / 2) + 2 ? cap : 2 * (p.window_beats / 2) + 2;
    room = room > p.medfilt + 1 ? room : p.medfilt + 1;
    mem = arena_of(room + 2 * EDGE_BEATS + 2, &w, &c, &o);
    if (!mem) {
        PyErr_NoMemory();
        goto done;
    }

    /* detect's one-window shortcut (_one_window): nothing can be flagged */
    int with_wt = 0;
    double wt = 0.0;
    Py_ssize_t half = p.window_beats / 2;
    if (n >= 5 && n - 1 <= 2 * half + 1) {
        int in_range = 1;
        for (Py_ssize_t i = 0; i < n && in_range; i++)
            in_range = !(rr[i] < p.min_rr) && !(rr[i] > p.max_rr);
        if (in_range) {
            for (Py_ssize_t i = 0; i < n - 1; i++)
                w.absv[i] = fabs(rr[i + 1] - rr[i]);
            double top, qd = kern_whole_qd(w.absv, n - 1, w.win, &top);
            wt = p.alpha * qd;
            with_wt = 1;
            if (wt == 0.0 || top / wt <= 1.0) {
                memset(classes_out, 0, (size_t)n);
                memcpy(corrected_out, rr, (size_t)n * sizeof(double));
                result = PyLong_FromSsize_t(n);
                goto done;
            }
        }
    }
    /* intervals longer than max_rr are dropouts: removed before classifying (their class set here, every
     * other beat's at the end) */
    Py_ssize_t nk = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        classes_out[i] = rr[i] > p.max_rr ? OUT_OF_RANGE : NORMAL;
        if (!(rr[i] > p.max_rr)) {
            o.cur[nk] = rr[i];
            o.kept_at[nk] = i;
            o.org[nk] = nk;
            nk++;
        }
    }

    Py_ssize_t size = nk;
    int8_t *inner = o.inner;
    kern_classify(o.cur, size, &p, NULL, with_wt, wt, &c, &w);
    possible(&c, o.cur, &p, &w);
    memcpy(inner, c.classes, (size_t)nk);
    int any = 0; /* anything flagged: then the corrected series has origins (o.org) */
    for (Py_ssize_t i = 0; i < nk && !any; i++)
        any = inner[i] != 0;
    if (any) {
        dense(&c, &p, o.dense, &w);
        Py_ssize_t n_prev = n_events(&c);
        size = correct(o.cur, &c, o.org, o.next, o.next_org, &w);
        advance(&o);
        for (Py_ssize_t pass = 1; pass < p.max_passes; pass++) {
            int some = 0;
            for (Py_ssize_t i = 0; i < nk && !some; i++)
                some = o.dense[i];
            if (!some)
                break;
            for (Py_ssize_t q = 0; q < size; q++) {
                Py_ssize_t g = o.org[q];
                int near = inner[g] != 0 || (g + 1 < nk && inner[g + 1] != 0) || (g >= 1 && inner[g - 1] != 0);
                o.allowed[q] = o.dense[g] && !near;
            }
            kern_classify(o.cur, size, &p, o.allowed, 0, 0.0, &c, &w);
            keep(&c, o.allowed, &w);
            possible(&c, o.cur, &p, &w);
            Py_ssize_t ne = n_events(&c);
            if (ne == 0 || ne >= n_prev)
                break;
            for (Py_ssize_t q = 0; q < size; q++)
                if (c.classes[q])
                    inner[o.org[q]] = c.classes[q];
            if (size + c.nsplit > cap) { /* cannot happen: an interval is split at most once */
                PyErr_SetString(PyExc_RuntimeError, "corrected series outgrew its buffer");
                goto done;
            }
            size = correct(o.cur, &c, o.org, o.next, o.next_org, &w);
            advance(&o);
            n_prev = ne;
        }
    }
    /* the range gate on the corrected series: an impossible interval is removed, its beat OUT_OF_RANGE */
    Py_ssize_t m = 0;
    for (Py_ssize_t q = 0; q < size; q++) {
        if (o.cur[q] < p.min_rr || o.cur[q] > p.max_rr) {
            inner[any ? o.org[q] : q] = OUT_OF_RANGE;
            continue;
        }
        corrected_out[m++] = o.cur[q];
    }
    for (Py_ssize_t i = 0; i < nk; i++)
        classes_out[o.kept_at[i]] = inner[i];
    result = PyLong_FromSsize_t(m);
done:
    PyMem_Free(mem);
    PyBuffer_Release(&bin);
    PyBuffer_Release(&bcls);
    PyBuffer_Release(&bout);
    return result;
}
