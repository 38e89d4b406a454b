import { render } from "preact";
import { App, restore } from "./app";
import "./styles.css";

void restore().finally(() => render(<App />, document.getElementById("app")!));
