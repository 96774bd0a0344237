/* The weighted median and weighted median absolute deviation of one baseline column
 * (processing/baseline.py's _robust): the same numbers as its numpy code, bit for bit, in one call
 * instead of about a dozen numpy calls per statistic.
 *
 * numpy's way: the lower weighted median is the first place in the stable order of x (ties by index) where
 * the running sum of the weights (np.cumsum: one addition after another) reaches half its last value
 * (searchsorted, side left). The MAD is the same of |x - med| in its own stable order. Here: the order of
 * x comes in (the caller sorts once for all its weightings); the order of |x - med| is a merge of the
 * values below the median (walked down, each run of equal values in index order) with those from it up,
 * ties between the two by index: the stable order itself, without a sort. The sums are made with the same
 * additions in the same order (built with -ffp-contract=off). When two different values of one side lie at
 * the same rounded distance from the median (impossible for the baseline's float16 samples, whose
 * differences are exact in float64) or a value or weight is not finite, it returns None and the caller
 * uses numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* The first k at which the running sum of w[idx[k]] reaches half of its total; n when none does. */
static Py_ssize_t half_weight_at(const Py_ssize_t *idx, Py_ssize_t n, const double *w) {
    double total = 0.0;
    for (Py_ssize_t k = 0; k < n; k++)
        total += w[idx[k]];
    double half = 0.5 * total, run = 0.0;
    for (Py_ssize_t k = 0; k < n; k++) {
        run += w[idx[k]];
        if (run >= half)
            return k;
    }
    return n;
}

/* The stable order of |xs - med| (xs sorted, order its indices) into idx and dev; 0, or -1 when two
 * different values on one side of the median share a rounded distance (the caller falls back). */
static int deviation_order(const double *xs, const Py_ssize_t *order, Py_ssize_t n, double med,
                           Py_ssize_t *idx, double *dev) {
    Py_ssize_t lo = 0, hi = n; /* s: the first place at or above the median */
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (xs[mid] < med)
            lo = mid + 1;
        else
            hi = mid;
    }
    Py_ssize_t s = lo;
    for (Py_ssize_t k = s + 1; k < n; k++)
        if (xs[k] != xs[k - 1] && fabs(xs[k] - med) == fabs(xs[k - 1] - med))
            return -1;
    for (Py_ssize_t k = 1; k < s; k++)
        if (xs[k] != xs[k - 1] && fabs(xs[k] - med) == fabs(xs[k - 1] - med))
            return -1;
    /* below: runs of equal values from the one nearest the median down; [ga, gb) the current run and
     * b its next place */
    Py_ssize_t gb = s, ga = s, b = s, u = s, out = 0;
    while (out < n) {
        if (b == gb && ga > 0) { /* the run below the current one */
            gb = ga;
            ga = gb - 1;
            while (ga > 0 && xs[ga - 1] == xs[gb - 1])
                ga--;
            b = ga;
        }
        int have_low = b < gb, have_up = u < n;
        int take_low;
        if (have_low && have_up) {
            double dl = fabs(xs[b] - med), du = fabs(xs[u] - med);
            take_low = dl < du || (dl == du && order[b] < order[u]);
        } else {
            take_low = have_low;
        }
        Py_ssize_t k = take_low ? b++ : u++;
        idx[out] = order[k];
        dev[out] = fabs(xs[k] - med);
        out++;
    }
    return 0;
}

static PyObject *weighted_median_mad(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *order_obj, *w_obj;
    if (!PyArg_ParseTuple(args, "OOO", &xs_obj, &order_obj, &w_obj))
        return NULL;
    Py_buffer xb, ob, wb;
    if (PyObject_GetBuffer(xs_obj, &xb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(order_obj, &ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    if (PyObject_GetBuffer(w_obj, &wb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&xb);
        PyBuffer_Release(&ob);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = xb.len / 8;
    if (xb.itemsize != 8 || wb.itemsize != 8 || ob.itemsize != (Py_ssize_t)sizeof(Py_ssize_t) || !xb.format ||
        !wb.format || !ob.format || strcmp(xb.format, "d") || strcmp(wb.format, "d") ||
        (strcmp(ob.format, "l") && strcmp(ob.format, "q") && strcmp(ob.format, "n")) || n < 1 ||
        ob.len / ob.itemsize != n || wb.len / 8 != n) {
        PyErr_SetString(PyExc_TypeError, "expected sorted float64 values, their intp order and float64 weights, "
                                         "one length, 1 or more");
        goto done;
    }
    const double *xs = (const double *)xb.buf, *w = (const double *)wb.buf;
    const Py_ssize_t *order = (const Py_ssize_t *)ob.buf;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (order[k] < 0 || order[k] >= n) {
            PyErr_SetString(PyExc_ValueError, "an index of the order is out of range");
            goto done;
        }
        if (!isfinite(xs[k]) || !isfinite(w[k])) {
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    Py_ssize_t i = half_weight_at(order, n, w);
    double med = xs[i < n ? i : n - 1];
    Py_ssize_t *idx = PyMem_Malloc((size_t)n * sizeof(Py_ssize_t));
    double *dev = PyMem_Malloc((size_t)n * sizeof(double));
    if (!idx || !dev) {
        PyErr_NoMemory();
    } else if (deviation_order(xs, order, n, med, idx, dev) < 0) {
        result = Py_NewRef(Py_None);
    } else {
        Py_ssize_t j = half_weight_at(idx, n, w);
        result = Py_BuildValue("(dd)", med, dev[j < n ? j : n - 1]);
    }
    PyMem_Free(idx);
    PyMem_Free(dev);
done:
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&wb);
    return result;
}

static PyMethodDef methods[] = {
    {"weighted_median_mad", weighted_median_mad, METH_VARARGS,
     "weighted_median_mad(sorted, order, w) -> (median, mad) | None: the lower weighted median of x and of "
     "|x - median| (stable orders, numpy's arithmetic), given sorted = x[order] and order = the stable "
     "argsort of x; None when numpy must decide (a value or weight not finite, a rounding tie)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_robust", NULL, -1, methods};

PyMODINIT_FUNC PyInit__robust(void) { return PyModule_Create(&module); }
