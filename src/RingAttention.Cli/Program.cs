return RingAttention.Cli.RingAttnCli.Run(args);
