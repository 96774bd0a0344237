/* Lipponen & Tarvainen's decision rules compiled (processing/artifacts/rules.py's classify, the reference):
 * part of the compiled detection of _detect.c, the same operations in the same order. */
#include "_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_ssize(const void *a, const void *b) {
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

void kern_sort_idx(Py_ssize_t *a, Py_ssize_t n) {
    if (n > 1)
        qsort(a, (size_t)n, sizeof(Py_ssize_t), cmp_ssize);
}

/* thresholds.quartile_deviation: one window for a series no longer than 2 * half + 1, else per index. */
static void qd_series(const double *v, Py_ssize_t m, Py_ssize_t half, double *out, double *win) {
    if (m <= 2 * half + 1) {
        double q = kern_whole_qd(v, m, win, NULL);
        for (Py_ssize_t i = 0; i < m; i++)
            out[i] = q;
    } else {
        kern_rolling_qd(v, m, half, out, win);
    }
}

/* The mRR thresholds' quartile deviations, made only where the decision rules read them (the flagged beats
 * and the ones after them: usually a few); past LAZY_MAX of them, all at once. Each is the same number
 * thresholds.quartile_deviation_at gives (its window's values sorted, the same interpolation). */
#define LAZY_MAX 4
typedef struct {
    const double *v;
    double *qd, *win;
    Py_ssize_t n, half, asked;
} Lazy;

static double lazy_qd(Lazy *z, Py_ssize_t r) {
    if (isnan(z->qd[r])) {
        if (++z->asked > LAZY_MAX) {
            kern_rolling_qd(z->v, z->n, z->half, z->qd, z->win);
        } else {
            Py_ssize_t lo = r - z->half > 0 ? r - z->half : 0;
            Py_ssize_t hi = r + z->half < z->n - 1 ? r + z->half : z->n - 1;
            z->qd[r] = kern_whole_qd(z->v + lo, hi - lo + 1, z->win, NULL);
        }
    }
    return z->qd[r];
}

/* rules._ectopic_pair */
static Py_ssize_t ectopic_pair(const double *rr, const double *medrr, Py_ssize_t n, Py_ssize_t j) {
    double err_prev = j >= 1 ? fabs(rr[j - 1] + rr[j] - 2.0 * medrr[j]) : INFINITY;
    double err_next = j + 1 < n ? fabs(rr[j] + rr[j + 1] - 2.0 * medrr[j]) : INFINITY;
    if (isinf(err_prev < err_next ? err_prev : err_next))
        return -1;
    return err_prev <= err_next ? j - 1 : j;
}

/* rules.classify (with_wt: its window_threshold argument, wt; only: NULL for None) */
void kern_classify(const double *rr, Py_ssize_t n, const Params *p, const unsigned char *only, int with_wt,
                   double wt, Cls *c, Work *w) {
    c->n = n;
    c->npair = c->nmerge = c->nsplit = c->nrepl = 0;
    memset(c->classes, 0, (size_t)n);
    if (n < 5) {
        memcpy(c->median, rr, (size_t)n * sizeof(double));
        return;
    }
    Py_ssize_t k = n - 1 < EDGE_BEATS ? n - 1 : EDGE_BEATS, nx = n + 2 * k;
    double *x = w->x, *drrs = w->drrs, *medx = w->medx, *d = w->d;
    for (Py_ssize_t i = 0; i < k; i++) {
        x[i] = rr[k - i];
        x[k + n + i] = rr[n - 2 - i];
    }
    memcpy(x + k, rr, (size_t)n * sizeof(double));
    drrs[0] = 0.0;
    for (Py_ssize_t i = 1; i < nx; i++)
        drrs[i] = x[i] - x[i - 1];
    kern_median(x, nx, p->medfilt, medx, w->win);
    Py_ssize_t half = p->window_beats / 2;
    if (!with_wt) {
        for (Py_ssize_t j = 0; j < n - 1; j++)
            w->absv[j] = fabs(drrs[k + 1 + j]);
        qd_series(w->absv, n - 1, half, w->th, w->win);
        /* th1: beat 0 takes beat 1's threshold (th[0]), beat j >= 1 th[j - 1]; mirrored like x */
        double *th = w->th, *th1 = w->tmp;
        for (Py_ssize_t j = n - 1; j >= 1; j--)
            th[j] = p->alpha * th[j - 1];
        th[0] = th[1];
        for (Py_ssize_t i = 0; i < k; i++) {
            th1[i] = th[k - i];
            th1[k + n + i] = th[n - 2 - i];
        }
        memcpy(th1 + k, th, (size_t)n * sizeof(double));
        for (Py_ssize_t i = 0; i < nx; i++)
            d[i] = th1[i] > 0 ? drrs[i] / th1[i] : 0.0;
    } else {
        for (Py_ssize_t i = 0; i < nx; i++)
            d[i] = wt > 0 ? drrs[i] / wt : 0.0;
    }
    const double *medrr = medx + k;
    memcpy(c->median, medrr, (size_t)n * sizeof(double));
    Py_ssize_t nbig = 0, *big = w->big;
    for (Py_ssize_t i = k; i < k + n; i++)
        if (fabs(d[i]) > 1.0)
            big[nbig++] = i;
    if (nbig == 0)
        return;
    if (only) { /* rules._may_start_in: an event of beat j starts at j - 1, j or j + 1 */
        int may = 0;
        for (Py_ssize_t b = 0; b < nbig && !may; b++) {
            Py_ssize_t j = big[b] - k;
            may = (j >= 1 && only[j - 1]) || only[j] || (j + 1 < n && only[j + 1]);
        }
        if (!may)
            return;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        double m = rr[j] - medrr[j];
        if (m < 0)
            m *= 2.0;
        w->absv[j] = fabs(m);
    }
    Lazy z = {w->absv, w->qd2, w->win, n, half, 0};
    if (n <= 2 * half + 1) { /* one window for every beat: one sort */
        qd_series(w->absv, n, half, w->qd2, w->win);
    } else {
        for (Py_ssize_t j = 0; j < n; j++)
            w->qd2[j] = NAN;
    }
    unsigned char *taken = w->flag;
    memset(taken, 0, (size_t)(n + 1));
    Py_ssize_t end0 = k, end1 = k + n - 1;
#define TH2(cc) (p->alpha * lazy_qd(&z, (cc) - k < n ? (cc) - k : 2 * (n - 1) - ((cc) - k)))
#define M_OF(cc, out)                                                                                          \
    do {                                                                                                       \
        double dev_ = x[cc] - medx[cc], th_ = TH2(cc);                                                         \
        out = th_ > 0 ? (dev_ < 0 ? 2.0 * dev_ : dev_) / th_ : 0.0;                                            \
    } while (0)
    for (Py_ssize_t b = 0; b < nbig; b++) {
        Py_ssize_t i = big[b], j = i - k;
        double mi;
        if (taken[j])
            continue;
        if (i == end0 || i == end1) {
            M_OF(i, mi);
            if (!(fabs(mi) > 3))
                continue;
        }
        double di = d[i], prev = d[i - 1], nxt = d[i + 1];
        double s12 = di > 0 ? (nxt > prev ? nxt : prev) : di < 0 ? (nxt < prev ? nxt : prev) : 0.0;
        if ((di > 1 && s12 < -p->c1 * di - p->c2) || (di < -1 && s12 > -p->c1 * di + p->c2)) {
            Py_ssize_t a = ectopic_pair(rr, medrr, n, j);
            if (a < 0 || taken[a] || taken[a + 1]) {
                c->classes[j] = ECTOPIC;
                taken[j] = 1;
                c->repl[c->nrepl++] = j;
                continue;
            }
            c->classes[a] = c->classes[a + 1] = ECTOPIC;
            taken[a] = taken[a + 1] = 1;
            c->pair[c->npair++] = a;
            continue;
        }
        Py_ssize_t cands[2] = {i, i + 1};
        int ncand = (i + 2 < nx && fabs(d[i + 1]) < fabs(d[i + 2]) && i + 1 < k + n) ? 2 : 1;
        for (int ci = 0; ci < ncand; ci++) {
            Py_ssize_t cc = cands[ci], jc = cc - k;
            double mc;
            M_OF(cc, mc);
            if (taken[jc] || ((cc == end0 || cc == end1) && !(fabs(mc) > 3)))
                continue;
            double dc = d[cc], n1 = d[cc + 1], n2 = d[cc + 2];
            double s22 = dc >= 0 ? (n2 < n1 ? n2 : n1) : (n2 > n1 ? n2 : n1);
            double th2c = TH2(cc);
            int long_ = dc > 1 && s22 < -1, short_ = dc < -1 && s22 > 1;
            if (!(long_ || short_ || fabs(mc) > 3))
                continue;
            taken[jc] = 1;
            double halves = x[cc] / 2.0 - medx[cc];
            int missed = fabs(halves < 0 ? 2.0 * halves : halves) < th2c;
            int extra = fabs(x[cc] + x[cc + 1] - medx[cc]) < th2c;
            if (short_ && extra && jc + 1 < n && !taken[jc + 1]) {
                c->classes[jc] = c->classes[jc + 1] = EXTRA;
                taken[jc + 1] = 1;
                c->merge[c->nmerge++] = jc;
            } else if (long_ && missed) {
                c->classes[jc] = MISSED;
                c->split[c->nsplit++] = jc;
            } else {
                c->classes[jc] = rr[jc] > medrr[jc] ? LONG : SHORT;
                c->repl[c->nrepl++] = jc;
            }
        }
    }
#undef M_OF
#undef TH2
    kern_sort_idx(c->pair, c->npair);
    kern_sort_idx(c->merge, c->nmerge);
    kern_sort_idx(c->split, c->nsplit);
    kern_sort_idx(c->repl, c->nrepl);
}
