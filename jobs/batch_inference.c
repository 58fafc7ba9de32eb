/* batch_inference.c: put a model once, run many predict tasks against its ref (seed 003).
 *
 * The "model" is a linear classifier: a features x classes weight matrix of f64 (3 MiB by
 * default). The driver stores it once with rayc_put and passes the ref to every predict task
 * together with a batch of input rows; a task returns the predicted class of each row (the
 * argmax of row * W). Passing the matrix by value instead would copy it into every task's
 * arguments; with the ref, each rank fetches it once at most and tasks read it in place.
 *
 *     ./batch_inference                 # 32 batches of 64 rows, 1024 features, 384 classes
 *     mpirun -n 4 ./batch_inference -b 128
 *     sbatch jobs/batch_inference.sbatch
 *
 * The driver computes the same predictions serially and compares them all. Prints
 * "batch_inference: OK ..." or exits 1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

#define JOB_NAME "batch_inference"
#include "job_util.h"

/* Fill v[0..n) with values in [-1, 1) from the stream at *state. */
static void fill_uniform(double *v, int64_t n, uint64_t *state)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (double)(splitmix64_next(state) >> 11) * 0x1.0p-52 - 1.0;
}

/* ------------------------------------------------------------------------------------------ */
/* The model, shared by the task and the serial check                                          */

/* For each of the rows of x (rows x features), labels[r] = argmax over classes of x[r] * w,
 * w being features x classes (row-major); ties go to the lower class. scores is scratch space
 * for `classes` doubles. */
static void predict_rows(const double *w, int64_t features, int64_t classes, const double *x,
                         int64_t rows, int64_t *labels, double *scores)
{
    for (int64_t r = 0; r < rows; r++) {
        const double *row = x + r * features;
        for (int64_t c = 0; c < classes; c++)
            scores[c] = 0.0;
        for (int64_t f = 0; f < features; f++) /* walk w row by row: cache friendly */
            for (int64_t c = 0; c < classes; c++)
                scores[c] += row[f] * w[f * classes + c];
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (scores[c] > scores[best])
                best = c;
        labels[r] = best;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The remote function                                                                         */

static int is_f64_matrix(const rayc_value *v)
{
    return rayc_value_dtype(v) == RAYC_F64 && rayc_value_ndim(v) == 2;
}

/* predict(model: features x classes f64, batch: rows x features f64) -> rows i64 labels. */
static int predict(rayc_task *t)
{
    const rayc_value *model, *batch;
    int rc = rayc_task_arg(t, 0, &model);
    if (rc == RAYC_OK)
        rc = rayc_task_arg(t, 1, &batch);
    if (rc != RAYC_OK)
        return rc;
    if (!is_f64_matrix(model) || !is_f64_matrix(batch))
        return rayc_task_fail(t, "model and batch must be 2-d f64 arrays");
    const int64_t *mshape = rayc_value_shape(model), *bshape = rayc_value_shape(batch);
    int64_t features = mshape[0], classes = mshape[1], rows = bshape[0];
    if (bshape[1] != features || classes < 1)
        return rayc_task_fail(t, "batch rows have %" PRId64 " features, the model takes %" PRId64,
                              bshape[1], features);

    void *labels;
    rc = rayc_return_alloc(t, 0, RAYC_I64, 1, &rows, &labels);
    if (rc != RAYC_OK)
        return rc;
    double *scores = malloc((size_t)classes * sizeof *scores);
    if (scores == NULL)
        return rayc_task_fail(t, "out of memory for %" PRId64 " scores", classes);
    predict_rows(rayc_value_data(model), features, classes, rayc_value_data(batch), rows, labels,
                 scores);
    free(scores);
    return RAYC_OK;
}
RAYC_REMOTE(predict, .num_args = 2, .arg_dtypes = "f64,f64");

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

typedef struct options {
    int64_t batches;
    int64_t rows;     /* per batch */
    int64_t features;
    int64_t classes;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: batch_inference [-b batches] [-r rows] [-f features] [-c classes]\n"
               "  -b  number of batches, one predict task each (default 32)\n"
               "  -r  rows per batch (default 64)\n"
               "  -f  features per row (default 1024)\n"
               "  -c  classes (default 384); the model is features x classes f64\n");
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.batches = 32, .rows = 64, .features = 1024, .classes = 384};
    const job_option opts[] = {
        JOB_INT('b', 1, 100000, &o->batches),
        JOB_INT('r', 1, 1000000, &o->rows),
        JOB_INT('f', 1, 100000, &o->features),
        JOB_INT('c', 1, 100000, &o->classes),
    };
    parse_job_options(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), usage);
}

int main(int argc, char **argv)
{
    /* Ranks > 0 serve tasks inside rayc_init and exit there; only the driver continues. */
    int rc = rayc_init(&argc, &argv, NULL);
    if (rc != RAYC_OK)
        die("rayc_init", rc);

    options o;
    parse_options(argc, argv, &o);
    int nb = (int)o.batches;
    int64_t batch_len = o.rows * o.features; /* doubles per batch */

    /* Generate the model and all input rows deterministically. */
    uint64_t state = 3;
    double *weights = xcalloc((size_t)(o.features * o.classes), sizeof *weights);
    double *inputs = xcalloc((size_t)(nb * batch_len), sizeof *inputs);
    fill_uniform(weights, o.features * o.classes, &state);
    fill_uniform(inputs, nb * batch_len, &state);
    printf("batch_inference: model %" PRId64 " x %" PRId64 " f64 (%.1f MiB), %d batches of %" PRId64
           " rows, on %d ranks\n",
           o.features, o.classes, (double)(o.features * o.classes) * 8.0 / (1 << 20), nb, o.rows,
           rayc_size());

    /* Put the model once; every task gets its ref. */
    double start = now_seconds();
    rayc_ref model;
    const int64_t model_shape[2] = {o.features, o.classes};
    check(rayc_put(&model, rayc_array(RAYC_F64, 2, model_shape, weights)), "rayc_put(model)");

    rayc_ref *refs = xcalloc((size_t)nb, sizeof *refs);
    const int64_t batch_shape[2] = {o.rows, o.features};
    for (int b = 0; b < nb; b++)
        check(rayc_submit(&refs[b], predict,
                          RAYC_ARGS(rayc_refarg(model),
                                    rayc_array(RAYC_F64, 2, batch_shape, inputs + b * batch_len))),
              "rayc_submit(predict)");
    /* The tasks hold the model while they need it; the driver's ref can go now. */
    check(rayc_release(&model, 1), "rayc_release(model)");

    rayc_value **predictions = xcalloc((size_t)nb, sizeof *predictions);
    check(rayc_get(refs, nb, predictions, RAYC_NO_TIMEOUT), "rayc_get");
    double t_tasks = now_seconds() - start;

    /* Serial reference, and the comparison. */
    start = now_seconds();
    int64_t *expected = xcalloc((size_t)(nb * o.rows), sizeof *expected);
    double *scores = xcalloc((size_t)o.classes, sizeof *scores);
    for (int b = 0; b < nb; b++)
        predict_rows(weights, o.features, o.classes, inputs + b * batch_len, o.rows,
                     expected + b * o.rows, scores);
    double t_serial = now_seconds() - start;

    int64_t mismatches = 0;
    for (int b = 0; b < nb; b++) {
        const rayc_value *v = predictions[b];
        if (rayc_value_dtype(v) != RAYC_I64 || rayc_value_count(v) != o.rows) {
            printf("batch_inference: FAILED: batch %d returned %" PRId64 " %s values\n", b,
                   rayc_value_count(v), rayc_dtype_name(rayc_value_dtype(v)));
            mismatches += o.rows;
            continue;
        }
        const int64_t *got = rayc_value_data(v);
        for (int64_t r = 0; r < o.rows; r++)
            mismatches += got[r] != expected[b * o.rows + r];
    }

    for (int b = 0; b < nb; b++)
        rayc_value_release(predictions[b]);
    check(rayc_release(refs, nb), "rayc_release");
    free(predictions);
    free(refs);
    free(expected);
    free(scores);
    free(weights);
    free(inputs);
    check(rayc_shutdown(), "rayc_shutdown");

    int64_t total_rows = nb * o.rows;
    printf("batch_inference: tasks %.3f s (%.0f rows/s), serial %.3f s (%.0f rows/s)\n", t_tasks,
           (double)total_rows / t_tasks, t_serial, (double)total_rows / t_serial);
    if (mismatches > 0) {
        printf("batch_inference: FAILED: %" PRId64 " of %" PRId64
               " predictions differ from the serial computation\n",
               mismatches, total_rows);
        return EXIT_FAILURE;
    }
    printf("batch_inference: OK %" PRId64 " predictions match\n", total_rows);
    return EXIT_SUCCESS;
}
