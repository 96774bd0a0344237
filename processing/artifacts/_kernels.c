/* Compiled loops of the artifact thresholds (processing/artifacts/thresholds.py): the same numbers as its
 * numpy code, bit for bit, with one pass over the series instead of one sorted copy per window.
 *
 * Each centred window is kept as a sorted array while it slides: one value enters and one leaves per
 * index (binary search, then the values between the two places move by one): on a 300 s window (336 per-beat windows of 91 values) 9.7 us
 * instead of numpy's 101.5 us (BENCHMARKS.md, session 6). The quartiles are interpolated with the same operations in the same
 * order as the numpy code (below + (pos - i) * (above - below), pos = last * share); the module is built
 * with -ffp-contract=off so the compiler never fuses them into one rounding. Optional: without a C
 * compiler the package installs without it and thresholds.py uses numpy alone (setup.py).
 */
#include "_kernels.h"
#include <math.h>
#include <string.h>

static Py_ssize_t first_not_below(const double *a, Py_ssize_t n, double x) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void insert(double *a, Py_ssize_t *n, double x) {
    Py_ssize_t i = first_not_below(a, *n, x);
    memmove(a + i + 1, a + i, (size_t)(*n - i) * sizeof(double));
    a[i] = x;
    (*n)++;
}

static void erase(double *a, Py_ssize_t *n, double x) {
    /* x is in a (it entered earlier); any copy of an equal value is the same value */
    Py_ssize_t i = first_not_below(a, *n, x);
    memmove(a + i, a + i + 1, (size_t)(*n - i - 1) * sizeof(double));
    (*n)--;
}

/* erase(old) then insert(x) in one pass: the values between the two places move by one */
static void slide(double *a, Py_ssize_t n, double old, double x) {
    Py_ssize_t i = first_not_below(a, n, old);
    if (x > old) {
        for (; i + 1 < n && a[i + 1] < x; i++)
            a[i] = a[i + 1];
    } else {
        for (; i > 0 && a[i - 1] > x; i--)
            a[i] = a[i - 1];
    }
    a[i] = x;
}

static double quartile(const double *s, Py_ssize_t size, double share) {
    Py_ssize_t last = size - 1;
    double pos = (double)last * share;
    Py_ssize_t i = (Py_ssize_t)pos;
    double below = s[i];
    double above = i < last ? s[i + 1] : s[i];
    return below + (pos - (double)i) * (above - below);
}

void kern_rolling_qd(const double *v, Py_ssize_t m, Py_ssize_t half, double *q, double *win) {
    Py_ssize_t size = 0;
    for (Py_ssize_t j = 0; j <= half && j < m; j++)
        insert(win, &size, v[j]);
    for (Py_ssize_t c = 0; c < m; c++) {
        if (c > 0) {
            int enters = c + half < m, leaves = c - half - 1 >= 0;
            if (enters && leaves)
                slide(win, size, v[c - half - 1], v[c + half]);
            else if (enters)
                insert(win, &size, v[c + half]);
            else if (leaves)
                erase(win, &size, v[c - half - 1]);
        }
        q[c] = 0.5 * (quartile(win, size, 0.75) - quartile(win, size, 0.25));
    }
}

double kern_whole_qd(const double *v, Py_ssize_t m, double *win, double *top) {
    Py_ssize_t size = 0;
    for (Py_ssize_t j = 0; j < m; j++)
        insert(win, &size, v[j]);
    if (top)
        *top = win[m - 1];
    return 0.5 * (quartile(win, size, 0.75) - quartile(win, size, 0.25));
}

void kern_median(const double *x, Py_ssize_t n, Py_ssize_t width, double *med, double *win) {
    Py_ssize_t h = width / 2, size = 0;
    /* the padded series: h copies of x[0], x, h copies of x[n - 1] (scipy's mode="nearest") */
#define PADDED(p) ((p) < h ? x[0] : (p) - h < n ? x[(p) - h] : x[n - 1])
    for (Py_ssize_t p = 0; p < width; p++)
        insert(win, &size, PADDED(p));
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i > 0)
            slide(win, size, PADDED(i - 1), PADDED(i + width - 1));
        med[i] = win[h];
    }
#undef PADDED
}

/* Float64 buffers: an input (read) and an output (written) of the given lengths. */
static int get_buffers(PyObject *src, Py_buffer *in, PyObject *dst, Py_buffer *out) {
    if (PyObject_GetBuffer(src, in, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (PyObject_GetBuffer(dst, out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(in);
        return -1;
    }
    if (in->itemsize != 8 || out->itemsize != 8 || !in->format || !out->format || strcmp(in->format, "d") ||
        strcmp(out->format, "d") || in->len != out->len) {
        PyBuffer_Release(in);
        PyBuffer_Release(out);
        PyErr_SetString(PyExc_TypeError, "expected two contiguous float64 arrays of one length");
        return -1;
    }
    return 0;
}

/* Free the window and release both buffers; NULL, for the error paths (an exception is set). */
static PyObject *release(Py_buffer *in, Py_buffer *out, double *win) {
    PyMem_Free(win);
    PyBuffer_Release(in);
    PyBuffer_Release(out);
    return NULL;
}

static int any_nan(const double *v, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (isnan(v[i]))
            return 1;
    return 0;
}

/* The arguments (src, k, dst) of both functions below: k, and src's and dst's float64 buffers. */
static int parse_in_out(PyObject *args, Py_ssize_t *k, Py_buffer *in, Py_buffer *out) {
    PyObject *src, *dst;
    if (!PyArg_ParseTuple(args, "OnO", &src, k, &dst))
        return -1;
    return get_buffers(src, in, dst, out);
}

static PyObject *rolling_quartile_deviation(PyObject *self, PyObject *args) {
    Py_ssize_t half;
    Py_buffer in, out;
    if (parse_in_out(args, &half, &in, &out) < 0)
        return NULL;
    const double *v = (const double *)in.buf;
    double *q = (double *)out.buf;
    Py_ssize_t m = in.len / 8;
    if (half < 0 || m < 2 || any_nan(v, m)) {
        PyErr_SetString(PyExc_ValueError, "need half_beats >= 0 and 2 or more values, none NaN");
        return release(&in, &out, NULL);
    }
    double *win = PyMem_Malloc((size_t)(2 * half + 2) * sizeof(double));
    if (!win) {
        PyErr_NoMemory();
        return release(&in, &out, NULL);
    }
    kern_rolling_qd(v, m, half, q, win);
    release(&in, &out, win);
    Py_RETURN_NONE;
}

static PyObject *median_filter(PyObject *self, PyObject *args) {
    Py_ssize_t width;
    Py_buffer in, out;
    if (parse_in_out(args, &width, &in, &out) < 0)
        return NULL;
    const double *x = (const double *)in.buf;
    double *med = (double *)out.buf;
    Py_ssize_t n = in.len / 8;
    if (width < 1 || width % 2 == 0 || n < 1 || any_nan(x, n)) {
        PyErr_SetString(PyExc_ValueError, "need an odd size and 1 or more values, none NaN");
        return release(&in, &out, NULL);
    }
    double *win = PyMem_Malloc((size_t)(width + 1) * sizeof(double));
    if (!win) {
        PyErr_NoMemory();
        return release(&in, &out, NULL);
    }
    kern_median(x, n, width, med, win);
    release(&in, &out, win);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"rolling_quartile_deviation", rolling_quartile_deviation, METH_VARARGS,
     "rolling_quartile_deviation(v, half_beats, out): out[c] = (Q3 - Q1) / 2 of v over "
     "[c - half_beats, c + half_beats] cut at the ends (float64 arrays)."},
    {"median_filter", median_filter, METH_VARARGS,
     "median_filter(x, size, out): running median of odd size, ends padded with the end values."},
    {"detect", kern_detect, METH_VARARGS,
     "detect(rr, classes, corrected, min_rr_ms, max_rr_ms, alpha, c1, c2, window_beats, medfilt_beats, "
     "max_passes, dense_events) -> size: processing.artifacts.detect's classes (int8, len(rr)) and "
     "corrected series (float64, room for 2 * len(rr) + 1; its first size values)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
