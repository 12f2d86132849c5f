// Placeholder signature, filled in by the server work: starts a gateway in-process.
export interface RunningGateway {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** The demo tenant's key when it was generated on this start (shown once), else undefined. */
  demoKey: string | undefined;
  close(): Promise<void>;
}
