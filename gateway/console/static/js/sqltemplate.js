// sqlTemplate turns a statement into its template, for the Live sessions
// page's "by SQL template" statistics: comments dropped, string, number,
// hex and bit literals, NULL and booleans replaced by ?, IN (…) lists and
// multi-row VALUES collapsed to one (?), identifier quotes dropped,
// whitespace collapsed, lower-cased. It mirrors the server's intelligent-kill
// grouping (docs/huawei.md) closely enough to group sessions by eye; it is a
// display aid and decides nothing.

const isDigit = c => c >= '0' && c <= '9';
const isIdent = c => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

export function sqlTemplate(sql) {
  if (!sql) return '';
  const n = sql.length;
  let out = '';
  let i = 0;
  const last = () => out[out.length - 1] || ' ';
  while (i < n) {
    const c = sql[i], d = sql[i + 1];
    if (c === '/' && d === '*') { // comment or optimizer hint
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
      out += ' ';
      continue;
    }
    if (c === '#' || (c === '-' && d === '-' && (i + 2 >= n || /\s/.test(sql[i + 2])))) {
      const e = sql.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
      out += ' ';
      continue;
    }
    if (c === "'" || c === '"') {
      i = skipQuoted(sql, i, c);
      // A charset introducer (_utf8mb4'x') or national/hex/bit prefix (N'x', X'1F', B'01') goes with its literal.
      out = out.replace(/(?:\b_[a-z0-9]+|\b[nNxXbB])$/, '');
      out += '?';
      continue;
    }
    if (c === '`') {
      const e = sql.indexOf('`', i + 1);
      out += sql.slice(i + 1, e < 0 ? n : e);
      i = e < 0 ? n : e + 1;
      continue;
    }
    if ((isDigit(c) || (c === '.' && isDigit(d || ''))) && !isIdent(last())) {
      let j = i;
      if (c === '0' && (d === 'x' || d === 'X' || d === 'b' || d === 'B')) j += 2;
      while (j < n && /[0-9a-fA-F.]/.test(sql[j])) {
        if ((sql[j] === 'e' || sql[j] === 'E') && /[+-]/.test(sql[j + 1] || '')) j++;
        j++;
      }
      if (j < n && isIdent(sql[j])) { // an identifier that starts with digits (t1e, 123abc)
        while (j < n && isIdent(sql[j])) j++;
        out += sql.slice(i, j);
      } else out += '?';
      i = j;
      continue;
    }
    if (/\s/.test(c)) { out += ' '; i++; continue; }
    out += c;
    i++;
  }
  let s = out.toLowerCase();
  s = s.replace(/\b(null|true|false)\b/g, '?');
  s = s.replace(/\s+/g, ' ');
  s = s.replace(/\s*\(\s*/g, '(').replace(/\s*\)/g, ')').replace(/\s*,\s*/g, ', ');
  s = s.replace(/\s*(<=>|<=|>=|<>|!=|=|<|>)\s*/g, ' $1 ');
  s = s.replace(/-\s*\?/g, '?');
  s = s.replace(/\bin\(\?(?:, \?)*\)/g, 'in(?)');
  s = s.replace(/\bvalues\(\?(?:, \?)*\)(?:, \(\?(?:, \?)*\))*/g, 'values(?)');
  return s.replace(/\s+/g, ' ').trim();
}

function skipQuoted(s, i, q) {
  let j = i + 1;
  while (j < s.length) {
    if (s[j] === '\\') { j += 2; continue; }
    if (s[j] === q) {
      if (s[j + 1] === q) { j += 2; continue; }
      return j + 1;
    }
    j++;
  }
  return s.length;
}
