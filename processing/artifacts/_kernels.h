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
/* The whole artifact detection (thresholds.py's callers: processing/artifacts/__init__.py's detect). */
PyObject *kern_detect(PyObject *self, PyObject *args);

#endif
