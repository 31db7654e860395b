// JSON calls to Cauce's API with the page's session cookie and CSRF token.
const token = () => document.querySelector('meta[name="csrf-token"]')?.content || '';

export class ApiError extends Error {
  constructor(status, body) {
    // Cauce's API answers {"error": code, "message": …}; older endpoints nest them in "error".
    const flat = { ...(body || {}), ...(body && typeof body.error === 'object' ? body.error : {}) };
    super(flat.message || `Error ${status}`);
    this.status = status;
    this.body = flat;
  }
}

export async function call(method, url, body) {
  const options = { method, credentials: 'same-origin',
    headers: { Accept: 'application/json', 'X-CSRFToken': token() } };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (failure) {
    throw new ApiError(0, { message: 'No hay conexión con el servidor: inténtelo de nuevo.' });
  }
  let payload = null;
  if ((response.headers.get('Content-Type') || '').includes('json')) {
    payload = await response.json();
  }
  if (!response.ok) { throw new ApiError(response.status, payload); }
  return payload;
}

export const get = (url) => call('GET', url);
