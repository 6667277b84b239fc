/* hub_image.h - RGB images: a small rasteriser (antialiased lines, rectangles, bitmap text) and
 * PNG files through libpng.  hub.plot (lua/hub/plot.lua) draws training curves with it.
 *
 *   hub_image *img = hub_image_new(800, 500, 0xffffff);          // white
 *   hub_image_line(img, 10, 10, 790, 490, 2.0, 0x1f77b4);        // 2 px wide, antialiased
 *   hub_image_text(img, 20, 20, "loss", 2, 0x000000);            // top-left at (20, 20), 2x size
 *   if (hub_image_save_png(img, "loss.png") != 0) fprintf(stderr, "%s\n", hub_last_error());
 *   hub_image_free(img);
 *
 * Coordinates are pixels, x to the right and y down from the top-left corner; line end points
 * are real numbers at pixel centres (pixel (i, j) covers [i-0.5, i+0.5)).  Colours are 0xRRGGBB.
 * Drawing is clipped to the image and to the rectangle of hub_image_clip.
 *
 * Text uses hubrun's own 5x8 bitmap font (ASCII 32-126; runtime/font.c): each glyph advances
 * HUB_FONT_ADVANCE pixels times `scale` and is HUB_FONT_HEIGHT pixels times scale tall (7 rows
 * above the baseline, one below for descenders, one of spacing).  Other bytes (UTF-8
 * sequences) are drawn as one box each.
 */
#ifndef HUB_IMAGE_H
#define HUB_IMAGE_H

#ifndef HUB_CDEF
#include <stdint.h>
#include "hub_base.h" /* HUB_API */
#endif

enum { HUB_FONT_ADVANCE = 6, HUB_FONT_HEIGHT = 9 };

typedef struct hub_image {
  int width, height;
  uint8_t *rgb;               /* width * height * 3 bytes, rows top to bottom */
  int clip_x0, clip_y0;       /* drawing is limited to [clip_x0, clip_x1) x [clip_y0, clip_y1) */
  int clip_x1, clip_y1;
} hub_image;

/* A width x height image filled with rgb; NULL + error for sizes outside 1..16384. */
HUB_API hub_image *hub_image_new(int width, int height, uint32_t rgb);
HUB_API void hub_image_free(hub_image *img);
/* Limits drawing to [x0, x1) x [y0, y1) (intersected with the image); hub_image_clip(img, 0, 0,
 * img->width, img->height) removes the limit. */
HUB_API void hub_image_clip(hub_image *img, int x0, int y0, int x1, int y1);
/* The colour of pixel (x, y), or 0 outside the image. */
HUB_API uint32_t hub_image_get(const hub_image *img, int x, int y);
HUB_API void hub_image_set(hub_image *img, int x, int y, uint32_t rgb);
HUB_API void hub_image_fill_rect(hub_image *img, int x, int y, int w, int h, uint32_t rgb);
/* An antialiased segment `width` pixels wide (round ends) from (x0, y0) to (x1, y1). */
HUB_API void hub_image_line(hub_image *img, double x0, double y0, double x1, double y1, double width, uint32_t rgb);

/* Text with its top-left corner at (x, y), glyphs scaled by `scale` (1, 2, ...).  Returns the
 * width drawn in pixels.  hub_image_text_up draws it turned a quarter left (read bottom to top,
 * for a y-axis label), its bottom-left corner at (x, y) and its extent going up. */
HUB_API int hub_image_text(hub_image *img, int x, int y, const char *text, int scale, uint32_t rgb);
HUB_API int hub_image_text_up(hub_image *img, int x, int y, const char *text, int scale, uint32_t rgb);
/* The width hub_image_text would draw: characters (a UTF-8 sequence counts once) times
 * HUB_FONT_ADVANCE times scale, without the spacing after the last one. */
HUB_API int hub_image_text_width(const char *text, int scale);

/* Writes an 8-bit RGB PNG atomically (a temporary file beside it, fsync'ed, renamed).  0 or -1. */
HUB_API int hub_image_save_png(const hub_image *img, const char *path);
/* Reads any PNG as 8-bit RGB (alpha composited on white); NULL + error naming the file. */
HUB_API hub_image *hub_image_load_png(const char *path);

#endif
