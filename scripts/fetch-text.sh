#!/usr/bin/env bash
# fetch-text.sh: real Chinese and English text from Debian packages, as plain lines, for the
# tokenizer's golden test (tests/lua/test_tokenizer.lua), its benchmark and vocabulary training.
#
#   scripts/fetch-text.sh                 # -> $HUB_DATA/text/*.txt
#   HUB_DATA=/tmp/data scripts/fetch-text.sh
#
# The machines reach only Debian's archive (and PyPI), so the text comes out of packages: each
# .deb is fetched with `apt-get download` into a temporary directory and unpacked with `dpkg -x`
# (never installed).  The cache is $HUB_DATA, by default <repo>/build/data.  Three files, each
# written atomically (temporary file, then rename) and skipped when already present:
#
#   text/manpages-zh.txt            manpages-zh: the zh_CN manual pages (man1..man8, in C-locale
#                                   path order), troff macros and escapes stripped (GFDL-1.2+;
#                                   some pages GPL-2+, see the package's copyright file)
#   text/debian-reference-zh-cn.txt debian-reference-zh-cn: the Debian Reference, plain-text
#                                   edition, Simplified Chinese (GPL-2+)
#   text/debian-reference-en.txt    debian-reference-en: the same in English (GPL-2+)
#
# Every line is trimmed; lines with no letter (\p{L}: table rules, blank lines) are dropped; the
# order is the order in the package, so the files are the same on every run.  Nothing fetched is
# ever committed: tests/fixtures/tokenizer_expected.json holds only sha1 sums and token ids.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
OUT=$DATA/text

case "${1:-}" in
  -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (usage: scripts/fetch-text.sh)" ;;
esac

command -v perl >/dev/null || die "perl not found (it is part of every Debian system: perl-base)"

# deb_root PKG: downloads and unpacks Debian package PKG into a temporary directory and sets
# DEB_ROOT to it (call it directly, not inside $(...)).  The installed copy is never used:
# container images often drop /usr/share/man and /usr/share/doc at install time.
deb_root() { deb_unpack "$1" "${TMPDIR:-/tmp}/hub-text.XXXXXX"; }

# Keeps trimmed lines that hold at least one letter.
KEEP_LINES='chomp; s/^\s+//; s/\s+$//; print "$_\n" if /\p{L}/;'

# troff (man(7)) to text: drops comments, macro definitions and formatting requests, keeps the
# text arguments of font and heading macros, and replaces the common escapes by their characters.
TROFF='
our ($skip_def);
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
chomp;
if ($skip_def) { $skip_def = 0 if /^\.\.\s*$/; next }
if (/^[.\x27]\s*(de|ig|am)\b/) { $skip_def = 1; next }
my $line;
if (/^[.\x27]\s*([A-Za-z]+)\s*(.*)$/) {
  my ($m, $a) = ($1, $2);
  my @a = args($a);
  if ($m =~ /^(B|I|SM|SB|SH|SS)$/) { $line = join " ", @a }
  elsif ($m =~ /^(BR|BI|IB|IR|RB|RI)$/) { $line = join "", @a }
  elsif ($m eq "IP" && @a && $a[0] !~ /^\\\(bu$|^\\\[bu\]$|^[-*]$/) { $line = $a[0] }
  else { next }
} elsif (/^[.\x27]/) {
  next;
} else {
  $line = $_;
}
$_ = esc($line);
s/^\s+//; s/\s+$//;
print "$_\n" if /\p{L}/;
'

# write_atomic DEST: stdin to DEST through a temporary file; fails (and removes it) when empty.
write_atomic() {
  local dest=$1 tmp="$1.tmp.$$"
  cat >"$tmp" || { rm -f "$tmp"; die "could not write $tmp"; }
  [ -s "$tmp" ] || { rm -f "$tmp"; die "no text for $dest"; }
  mv -f "$tmp" "$dest"
}

report() { echo "text: $(wc -l <"$1") lines, $(wc -c <"$1") bytes in $1 ($2)"; }

fetch_manpages_zh() {
  local dest=$OUT/manpages-zh.txt
  if [ -s "$dest" ]; then echo "text: already in $dest"; return 0; fi
  deb_root manpages-zh
  local dir=$DEB_ROOT/usr/share/man/zh_CN
  [ -d "$dir" ] || die "manpages-zh has no usr/share/man/zh_CN (the package layout changed?)"
  local pages
  pages=$(cd "$dir" && find . -name '*.gz' | LC_ALL=C sort)
  [ -n "$pages" ] || die "manpages-zh: no pages under $dir"
  (cd "$dir" && for p in $pages; do gzip -dc "$p"; echo; done) | perl -CSD -ne "$TROFF" | write_atomic "$dest"
  report "$dest" "manpages-zh, GFDL-1.2+ / GPL-2+"
}

fetch_reference() {
  local lang=$1
  local dest=$OUT/debian-reference-$lang.txt
  if [ -s "$dest" ]; then echo "text: already in $dest"; return 0; fi
  deb_root "debian-reference-$lang"
  local src=$DEB_ROOT/usr/share/debian-reference/debian-reference.$lang.txt.gz
  [ -f "$src" ] || die "debian-reference-$lang has no ${src#"$DEB_ROOT"/} (the package layout changed?)"
  gzip -dc "$src" | perl -CSD -ne "$KEEP_LINES" | write_atomic "$dest"
  report "$dest" "debian-reference-$lang, GPL-2+"
}

mkdir -p "$OUT"
fetch_manpages_zh
fetch_reference zh-cn
fetch_reference en
