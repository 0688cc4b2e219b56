import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { AuthProvider, createApiClient } from "@unifyops/shared";
import "@unifyops/shared/src/styles.css";
import { App } from "./App";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AuthProvider api={createApiClient()}>
      <App />
    </AuthProvider>
  </StrictMode>,
);
