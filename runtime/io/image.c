/* image.c - RGB images: pixels, clipping, rectangles, antialiased lines and PNG files.
 *
 * An image is a plain width x height x 3 byte array.  Lines are drawn by coverage: every pixel
 * near the segment gets alpha = clamp(width/2 + 0.5 - distance from its centre to the segment),
 * blended over what is there, which gives antialiased lines of any width with round ends and
 * no special cases for steep or short segments.  Only a band around the segment is visited (one
 * run of pixels across it per step along its major axis), so each pixel is blended at most once
 * per segment.  PNG goes through libpng's simplified API (png_image_*), which handles libpng's
 * own error jumps internally: nothing longjmps through our frames or the caller's.  Saving writes
 * a temporary file beside the target, fsyncs it and renames it over the target.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub_image.h"
#include "hub_util.h"
#include "internal.h"

enum { MAX_SIDE = 16384 };

hub_image *hub_image_new(int width, int height, uint32_t rgb) {
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    hub_err("image: size %dx%d is outside 1..%d", width, height, MAX_SIDE);
    return NULL;
  }
  hub_image *img = calloc(1, sizeof *img);
  uint8_t *px = malloc((size_t)width * (size_t)height * 3);
  if (!img || !px) {
    free(img);
    free(px);
    hub_err("image: out of memory for %dx%d", width, height);
    return NULL;
  }
  img->width = width;
  img->height = height;
  img->rgb = px;
  hub_image_clip(img, 0, 0, width, height);
  uint8_t r = (uint8_t)(rgb >> 16), g = (uint8_t)(rgb >> 8), b = (uint8_t)rgb;
  for (size_t i = 0; i < (size_t)width * (size_t)height; i++) {
    px[3 * i] = r;
    px[3 * i + 1] = g;
    px[3 * i + 2] = b;
  }
  return img;
}

void hub_image_free(hub_image *img) {
  if (!img) return;
  free(img->rgb);
  free(img);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void hub_image_clip(hub_image *img, int x0, int y0, int x1, int y1) {
  if (!img) return;
  img->clip_x0 = clampi(x0, 0, img->width);
  img->clip_y0 = clampi(y0, 0, img->height);
  img->clip_x1 = clampi(x1, img->clip_x0, img->width);
  img->clip_y1 = clampi(y1, img->clip_y0, img->height);
}

static int inside(const hub_image *img, int x, int y) {
  return x >= img->clip_x0 && x < img->clip_x1 && y >= img->clip_y0 && y < img->clip_y1;
}

uint32_t hub_image_get(const hub_image *img, int x, int y) {
  if (!img || x < 0 || y < 0 || x >= img->width || y >= img->height) return 0;
  const uint8_t *p = img->rgb + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

void hub_image_set(hub_image *img, int x, int y, uint32_t rgb) {
  if (!img || !inside(img, x, y)) return;
  uint8_t *p = img->rgb + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
  p[0] = (uint8_t)(rgb >> 16);
  p[1] = (uint8_t)(rgb >> 8);
  p[2] = (uint8_t)rgb;
}

/* Pixel (x, y) = alpha * rgb + (1 - alpha) * pixel. */
static void blend(hub_image *img, int x, int y, uint32_t rgb, double alpha) {
  if (alpha <= 0 || !inside(img, x, y)) return;
  if (alpha > 1) alpha = 1;
  uint8_t *p = img->rgb + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
  const int c[3] = {(int)(rgb >> 16 & 0xff), (int)(rgb >> 8 & 0xff), (int)(rgb & 0xff)};
  for (int k = 0; k < 3; k++) p[k] = (uint8_t)lround(p[k] + (c[k] - p[k]) * alpha);
}

void hub_image_fill_rect(hub_image *img, int x, int y, int w, int h, uint32_t rgb) {
  if (!img || w <= 0 || h <= 0) return;
  int x0 = clampi(x, img->clip_x0, img->clip_x1), x1 = clampi(x + w, img->clip_x0, img->clip_x1);
  int y0 = clampi(y, img->clip_y0, img->clip_y1), y1 = clampi(y + h, img->clip_y0, img->clip_y1);
  for (int j = y0; j < y1; j++)
    for (int i = x0; i < x1; i++) hub_image_set(img, i, j, rgb);
}

void hub_image_line(hub_image *img, double x0, double y0, double x1, double y1, double width, uint32_t rgb) {
  if (!img || !(width > 0) || !isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
  /* Far outside the image (a wild data point): clamp to a large box first so loops stay short. */
  const double lim = 4.0 * MAX_SIDE;
  if (fabs(x0) > lim || fabs(y0) > lim || fabs(x1) > lim || fabs(y1) > lim) {
    /* Liang-Barsky against [-lim, lim]^2 keeps the visible part exact. */
    double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
    const double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 + lim, lim - x0, y0 + lim, lim - y0};
    for (int k = 0; k < 4; k++) {
      if (p[k] == 0) {
        if (q[k] < 0) return;
      } else {
        double t = q[k] / p[k];
        if (p[k] < 0 && t > t0) t0 = t;
        if (p[k] > 0 && t < t1) t1 = t;
      }
    }
    if (t0 > t1) return;
    double nx0 = x0 + t0 * dx, ny0 = y0 + t0 * dy;
    x1 = x0 + t1 * dx;
    y1 = y0 + t1 * dy;
    x0 = nx0;
    y0 = ny0;
  }
  const double r = width / 2, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  const int steep = fabs(dy) > fabs(dx);
  /* Walk the major axis (u); across it (v) visit the band the segment and its round ends cover. */
  double u0 = steep ? y0 : x0, u1 = steep ? y1 : x1, v0 = steep ? x0 : y0, v1 = steep ? x1 : y1;
  double du = u1 - u0, dv = v1 - v0;
  double half = r + 1.5;
  if (du != 0) half += r * sqrt(len2) / fabs(du) - r;
  int ua = (int)floor(fmin(u0, u1) - r - 1), ub = (int)ceil(fmax(u0, u1) + r + 1);
  int umax = steep ? img->clip_y1 : img->clip_x1, umin = steep ? img->clip_y0 : img->clip_x0;
  if (ua < umin) ua = umin;
  if (ub > umax - 1) ub = umax - 1;
  for (int u = ua; u <= ub; u++) {
    double t = du != 0 ? (u - u0) / du : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double vc = v0 + t * dv;
    int va = (int)floor(vc - half), vb = (int)ceil(vc + half);
    for (int v = va; v <= vb; v++) {
      double px = steep ? v : u, py = steep ? u : v;
      double s = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      if (s < 0) s = 0;
      if (s > 1) s = 1;
      double ex = px - (x0 + s * dx), ey = py - (y0 + s * dy);
      double cover = r + 0.5 - sqrt(ex * ex + ey * ey);
      if (cover > 0) blend(img, (int)px, (int)py, rgb, cover);
    }
  }
}

int hub_image_save_png(const hub_image *img, const char *path) {
  if (!img || !path || !*path) return hub_err("save_png: no image or no path");
  size_t tlen = strlen(path) + 48;
  char *tmp = malloc(tlen);
  if (!tmp) return hub_err("save_png %s: out of memory", path);
  snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    int rc = hub_err("save_png %s: cannot create %s: %s", path, tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = (png_uint_32)img->width;
  pi.height = (png_uint_32)img->height;
  pi.format = PNG_FORMAT_RGB;
  int rc = 0;
  if (!png_image_write_to_stdio(&pi, f, 0, img->rgb, 0, NULL))
    rc = hub_err("save_png %s: libpng: %s", path, pi.message);
  png_image_free(&pi);
  if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0)) rc = hub_err("save_png %s: %s", path, strerror(errno));
  if (fclose(f) != 0 && rc == 0) rc = hub_err("save_png %s: %s", path, strerror(errno));
  if (rc == 0 && rename(tmp, path) != 0) rc = hub_err("save_png %s: renaming %s: %s", path, tmp, strerror(errno));
  if (rc != 0) unlink(tmp);
  free(tmp);
  return rc;
}

hub_image *hub_image_load_png(const char *path) {
  if (!path) {
    hub_err("load_png: no path");
    return NULL;
  }
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&pi, path)) {
    hub_err("load_png %s: %s", path, pi.message);
    png_image_free(&pi);
    return NULL;
  }
  pi.format = PNG_FORMAT_RGB;
  if (pi.width > MAX_SIDE || pi.height > MAX_SIDE) {
    hub_err("load_png %s: %ux%u is larger than %d on a side", path, pi.width, pi.height, MAX_SIDE);
    png_image_free(&pi);
    return NULL;
  }
  hub_image *img = hub_image_new((int)pi.width, (int)pi.height, 0xffffff);
  if (!img) {
    png_image_free(&pi);
    return NULL;
  }
  png_color white = {255, 255, 255};
  if (!png_image_finish_read(&pi, &white, img->rgb, 0, NULL)) {
    hub_err("load_png %s: %s", path, pi.message);
    png_image_free(&pi);
    hub_image_free(img);
    return NULL;
  }
  return img;
}
