import { AppFrame, useAuth } from "@unifyops/shared";

function SignedIn() {
  const { email } = useAuth();
  return <p role="status">You are signed in as {email}.</p>;
}

export function App() {
  return <AppFrame title="Account">{() => <SignedIn />}</AppFrame>;
}
