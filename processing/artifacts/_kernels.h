/* Shared by _kernels.c (the threshold loops) and _detect.c (the whole detection): a sorted window slid
 * along a series, and the quartile deviations and running median made with it. */
#ifndef CALMSTRAP_KERNELS_H
#define CALMSTRAP_KERNELS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* (Q3 - Q1) / 2 of v over [c - half, c + half] cut at the ends, for every c < m (m >= 2); win holds
 * 2 * half + 2 values. */
void kern_rolling_qd(const double *v, Py_ssize_t m, Py_ssize_t half, double *q, double *win);
/* (Q3 - Q1) / 2 of all m values of v (m >= 1) and their largest (top, if not NULL); win holds m. */
double kern_whole_qd(const double *v, Py_ssize_t m, double *win, double *top);
/* Running median of odd width, the ends padded with the end values; win holds width + 1 values. */
void kern_median(const double *x, Py_ssize_t n, Py_ssize_t width, double *med, double *win);
/* The whole artifact detection (processing/artifacts/__init__.py's detect): _detect.c, with the decision
 * rules in _rules.c. Its types: */
#include <stdint.h>
enum { NORMAL = 0, OUT_OF_RANGE = 1, ECTOPIC = 2, LONG = 3, SHORT = 4, MISSED = 5, EXTRA = 6 };
#define EDGE_BEATS 5

typedef struct {
    double min_rr, max_rr, alpha, c1, c2;
    Py_ssize_t window_beats, medfilt, max_passes, dense_events;
} Params;

/* rules.Classification: classes and the 11-beat median of a series of n, and its events' first indices
 * (ascending, one list per kind). */
typedef struct {
    Py_ssize_t n;
    int8_t *classes;
    double *median;
    Py_ssize_t *pair, *merge, *split, *repl;
    Py_ssize_t npair, nmerge, nsplit, nrepl;
} Cls;

/* Scratch space for series of up to cap values (a mirrored series has 2 * EDGE_BEATS more). */
typedef struct {
    double *x, *drrs, *medx, *th, *d, *absv, *qd2, *win, *tmp;
    Py_ssize_t *big, *idx;
    unsigned char *flag, *flag2;
} Work;

/* _rules.c: rules.classify (with_wt: its window_threshold argument, wt; only: NULL for None) */
void kern_classify(const double *rr, Py_ssize_t n, const Params *p, const unsigned char *only, int with_wt,
                   double wt, Cls *c, Work *w);
void kern_sort_idx(Py_ssize_t *a, Py_ssize_t n);
PyObject *kern_detect(PyObject *self, PyObject *args);

#endif
