import { mountApp } from "@unifyops/shared";
import { App } from "./App";

mountApp(App);
