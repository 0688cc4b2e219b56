// The one API client of every app: same-origin calls to /api/* (the app server forwards them to
// the stack's gateway), the bearer token from the auth context, and every failure turned into an
// ApiError carrying the platform's uniform error shape (message for people, error_id for support).

export interface ErrorShape {
  status_code: number;
  message: string;
  error_id: string;
  error_type: string;
  timestamp?: string;
  details?: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly errorId: string | null;
  readonly errorType: string;
  readonly details: unknown;

  constructor(status: number, shape: Partial<ErrorShape>) {
    super(shape.message ?? `Request failed with status ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.errorId = shape.error_id ?? null;
    this.errorType = shape.error_type ?? "unknown";
    this.details = shape.details;
  }

  /** What to show a person: the message, plus the id support can look up. */
  describe(): string {
    return this.errorId ? `${this.message} (error id ${this.errorId})` : this.message;
  }

  /** Field-level messages of a validation error, keyed by field name. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    const errors = (this.details as { errors?: Array<{ loc?: unknown[]; msg?: string }> })?.errors;
    for (const error of errors ?? []) {
      const field = String(error.loc?.[error.loc.length - 1] ?? "");
      if (field && error.msg) out[field] = error.msg;
    }
    return out;
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  method?: string;
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  data: T;
  headers: Headers;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let shape: Partial<ErrorShape> = {};
  try {
    shape = (await response.json()) as Partial<ErrorShape>;
  } catch {
    // Not the uniform shape (a proxy page, an empty body): keep the status line.
    shape = { message: `${response.status} ${response.statusText}`.trim() };
  }
  return new ApiError(response.status, shape);
}

export function createApiClient(base = "/api", fetcher: Fetch = (i, init) => fetch(i, init)) {
  async function request<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    let response: Response;
    try {
      response = await fetcher(`${base}${path}`, {
        method: options.method ?? "GET",
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        credentials: "same-origin",
      });
    } catch {
      throw new ApiError(0, { message: "The server cannot be reached. Check your connection." });
    }
    if (!response.ok) throw await errorFrom(response);
    const data = (response.status === 204 ? undefined : await response.json()) as T;
    return { data, headers: response.headers };
  }
  return { request };
}

export type ApiClient = ReturnType<typeof createApiClient>;
