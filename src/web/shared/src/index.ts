export { ApiError, createApiClient } from "./api";
export type { ApiClient, ApiResponse, ErrorShape, Fetch, RequestOptions } from "./api";
export { AuthProvider, emailOf, useAuth } from "./auth";
export type { AccessToken, AuthState } from "./auth";
export { ErrorMessage, Layout } from "./Layout";
export type { LayoutProps } from "./Layout";
export { SignIn } from "./SignIn";
export { AppFrame, mountApp } from "./mount";
