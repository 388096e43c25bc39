// Alertmanager matchers as the silence pages use them: the four operators,
// their text form (name="value", name=~"regex"), the API's shape
// ({name, value, isRegex, isEqual}) and matching an alert's labels, so the
// silence form can show which current alerts a silence would mute.

/** The matcher operators, in the order the editor offers them. */
export const operators = ['=', '!=', '=~', '!~'];

/** fromAPI turns an API matcher into { name, op, value }. */
export function fromAPI(m) {
  const isEqual = m.isEqual === undefined ? true : m.isEqual;
  const op = m.isRegex ? (isEqual ? '=~' : '!~') : (isEqual ? '=' : '!=');
  return { name: m.name, op, value: m.value };
}

/** toAPI turns { name, op, value } into the API's matcher. */
export function toAPI(m) {
  return { name: m.name, value: m.value, isRegex: m.op === '=~' || m.op === '!~', isEqual: m.op === '=' || m.op === '=~' };
}

/** format writes a matcher as name="value" (the value quoted as in Alertmanager). */
export function format(m) {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

const matcherRe = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s,{}]*))\s*$/;

/**
 * parse reads one matcher written as name="value", name!="value",
 * name=~"re" or name!~"re" (quotes optional for simple values); it
 * returns { name, op, value } or null.
 */
export function parse(s) {
  const m = matcherRe.exec(s || '');
  if (!m) return null;
  let value = m[4] !== undefined ? m[4] : m[3];
  if (m[3] !== undefined) {
    try {
      value = JSON.parse(`"${m[3]}"`);
    } catch {
      return null;
    }
  }
  return { name: m[1], op: m[2], value };
}

/**
 * compile prepares a matcher for matching: Alertmanager anchors regular
 * expressions at both ends. It returns a function of a label value, or
 * throws with the regular expression's error.
 */
export function compile(m) {
  if (m.op === '=' || m.op === '!=') {
    const eq = m.op === '=';
    return (v) => (v === m.value) === eq;
  }
  const re = new RegExp(`^(?:${m.value})$`);
  const eq = m.op === '=~';
  return (v) => re.test(v) === eq;
}

/**
 * matchesAll reports whether every matcher matches labels (a missing
 * label is the empty string, as in Alertmanager). fns come from compile.
 */
export function matchesAll(fns, matchers, labels) {
  return fns.every((f, i) => f(labels[matchers[i].name] || ''));
}

/** validate returns what is wrong with a matcher, or ''. */
export function validate(m) {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(m.name)) {
    return m.name ? `"${m.name}" is not a label name (letters, digits and _, not starting with a digit)` : 'a matcher needs a label name';
  }
  if (m.op === '=~' || m.op === '!~') {
    try {
      new RegExp(m.value);
    } catch (err) {
      return `${m.name}: not a regular expression: ${err.message}`;
    }
  }
  return '';
}
