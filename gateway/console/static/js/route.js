// href builds a console route: #/<page>?<params>.
export function href(name, params = {}) {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString();
  return '#/' + name + (qs ? '?' + qs : '');
}
