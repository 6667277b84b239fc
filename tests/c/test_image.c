/* test_image.c - runtime/image.c and font.c on values: pixels, clipping, rectangles, antialiased
 * lines (where they land and how wide), glyphs drawn as their bitmap says, text width and the
 * turned text, and a PNG round trip through libpng (written atomically, read back exactly);
 * bad sizes and unreadable files are errors naming the file. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static int is_color(uint32_t c) { return c != 0xffffff; }

int main(void) {
  hub_image *img = hub_image_new(64, 40, 0xffffff);
  CHECK(img && img->width == 64 && img->height == 40, "new");
  CHECK(hub_image_get(img, 63, 39) == 0xffffff, "filled white");
  CHECK(hub_image_new(0, 5, 0) == NULL && strstr(hub_last_error(), "outside 1..") != NULL, "bad size: %s", hub_last_error());

  /* rectangles are clipped to the image */
  hub_image_fill_rect(img, -5, -5, 8, 7, 0x102030);
  CHECK(hub_image_get(img, 0, 0) == 0x102030 && hub_image_get(img, 2, 1) == 0x102030, "rect inside");
  CHECK(hub_image_get(img, 3, 0) == 0xffffff && hub_image_get(img, 0, 2) == 0xffffff, "rect ends where it should");

  /* a horizontal 1-px line at y = 20 covers exactly row 20 from x = 10 to 50 */
  hub_image_line(img, 10, 20, 50, 20, 1.0, 0xff0000);
  int bad = 0;
  for (int x = 10; x <= 50; x++) bad += hub_image_get(img, x, 20) != 0xff0000 || is_color(hub_image_get(img, x, 18));
  CHECK(bad == 0, "horizontal line on its row (%d bad columns)", bad);
  CHECK(!is_color(hub_image_get(img, 30, 22)) && !is_color(hub_image_get(img, 53, 20)), "nothing beyond the line");

  /* a 3-px vertical line centred on x = 5 */
  hub_image_line(img, 5, 25, 5, 35, 3.0, 0x00ff00);
  CHECK(hub_image_get(img, 4, 30) == 0x00ff00 && hub_image_get(img, 5, 30) == 0x00ff00 && hub_image_get(img, 6, 30) == 0x00ff00,
        "3-px line covers three columns");
  CHECK(!is_color(hub_image_get(img, 8, 30)), "and not more");

  /* a diagonal: antialiased (partly covered pixels are blends) and continuous */
  hub_image *d = hub_image_new(40, 40, 0xffffff);
  hub_image_line(d, 2, 3, 37, 30, 1.5, 0x000000);
  int gaps = 0, blends = 0;
  for (int x = 3; x <= 36; x++) {
    int hit = 0;
    for (int y = 0; y < 40; y++) {
      uint32_t c = hub_image_get(d, x, y);
      if (c != 0xffffff) hit = 1;
      if (c != 0xffffff && c != 0) blends++;
    }
    gaps += !hit;
  }
  CHECK(gaps == 0 && blends > 10, "diagonal continuous (%d gaps) and antialiased (%d blended pixels)", gaps, blends);
  /* far-away end points (a wild value) draw the visible part and return */
  hub_image_line(d, -1e12, 20, 1e12, 20, 1.0, 0x0000ff);
  CHECK(hub_image_get(d, 20, 20) == 0x0000ff, "line with huge end points");
  hub_image_line(d, 0.0 / 0.0, 1, 2, 3, 1.0, 0x0000ff); /* NaN: nothing, no hang */

  /* clipping */
  hub_image_clip(d, 10, 10, 20, 20);
  hub_image_fill_rect(d, 0, 0, 40, 40, 0x123456);
  CHECK(hub_image_get(d, 10, 10) == 0x123456 && hub_image_get(d, 19, 19) == 0x123456 && hub_image_get(d, 9, 15) != 0x123456 &&
            hub_image_get(d, 20, 15) != 0x123456,
        "clip rectangle");
  hub_image_clip(d, 0, 0, d->width, d->height);
  hub_image_free(d);

  /* glyphs: "1" at scale 1 is its bitmap (row 0: ..#.., row 1: .##.., row 6: .###.) */
  hub_image *t = hub_image_new(40, 20, 0xffffff);
  int w = hub_image_text(t, 2, 3, "1", 1, 0x000000);
  CHECK(w == 5 && hub_image_text_width("1", 1) == 5, "one glyph is 5 px wide (%d)", w);
  CHECK(hub_image_get(t, 4, 3) == 0 && hub_image_get(t, 3, 3) == 0xffffff && hub_image_get(t, 5, 3) == 0xffffff, "row 0 of '1'");
  CHECK(hub_image_get(t, 3, 4) == 0 && hub_image_get(t, 4, 4) == 0 && hub_image_get(t, 2, 4) == 0xffffff, "row 1 of '1'");
  CHECK(hub_image_get(t, 3, 9) == 0 && hub_image_get(t, 5, 9) == 0 && hub_image_get(t, 6, 9) == 0xffffff, "row 6 of '1'");
  CHECK(hub_image_text_width("abc", 2) == (3 * HUB_FONT_ADVANCE - 1) * 2, "width scales");
  CHECK(hub_image_text_width("\xe4\xb8\xad\xe6\x96\x87", 1) == 2 * HUB_FONT_ADVANCE - 1, "a UTF-8 character counts once");
  /* scale 2: pixel (col 2, row 0) of '1' is a 2x2 block */
  hub_image_fill_rect(t, 0, 0, 40, 20, 0xffffff);
  hub_image_text(t, 0, 0, "1", 2, 0x000000);
  CHECK(hub_image_get(t, 4, 0) == 0 && hub_image_get(t, 5, 1) == 0 && hub_image_get(t, 6, 0) == 0xffffff, "scale 2 blocks");
  /* turned text: '1' turned a quarter left, bottom-left at (2, 15): glyph row 0 becomes column 2 */
  hub_image_fill_rect(t, 0, 0, 40, 20, 0xffffff);
  hub_image_text_up(t, 2, 15, "1", 1, 0x000000);
  CHECK(hub_image_get(t, 2, 13) == 0 && hub_image_get(t, 2, 12) == 0xffffff && hub_image_get(t, 2, 14) == 0xffffff,
        "turned glyph: row 0's pixel at column 2");
  hub_image_free(t);

  /* PNG round trip */
  char path[] = "/tmp/hub_test_image_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  CHECK(hub_image_save_png(img, path) == 0, "save_png: %s", hub_last_error());
  hub_image *back = hub_image_load_png(path);
  CHECK(back && back->width == 64 && back->height == 40, "load_png size");
  CHECK(back && memcmp(back->rgb, img->rgb, 64 * 40 * 3) == 0, "load_png pixels equal");
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  CHECK(access(tmp, F_OK) != 0, "no temporary file left");
  hub_image_free(back);
  FILE *f = fopen(path, "wb");
  fputs("not a png", f);
  fclose(f);
  CHECK(hub_image_load_png(path) == NULL && strstr(hub_last_error(), path) != NULL, "bad PNG names the file: %s", hub_last_error());
  unlink(path);
  CHECK(hub_image_load_png("/nonexistent/x.png") == NULL && strstr(hub_last_error(), "/nonexistent/x.png"), "missing file");
  CHECK(hub_image_save_png(img, "/nonexistent/dir/x.png") != 0 && strstr(hub_last_error(), "/nonexistent/dir/x.png"),
        "unwritable path: %s", hub_last_error());
  hub_image_free(img);
  return check_summary();
}
