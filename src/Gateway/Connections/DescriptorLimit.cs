namespace Gateway.Connections;

/// <summary>The process's soft limit on open file descriptors (RLIMIT_NOFILE), which every socket counts against.</summary>
internal static class DescriptorLimit
{
    /// <summary>Descriptors the process has open now (the runtime's own, listeners, files), or 0 where that cannot be read.</summary>
    public static int OpenNow(string path = "/proc/self/fd")
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(path).Count();
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>The soft limit, or null where it cannot be read (not Linux) or is unlimited.</summary>
    public static long? ReadSoftLimit(string path = "/proc/self/limits")
    {
        try
        {
            // "Max open files            20000                20000                files"
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 && long.TryParse(fields[0], out var soft) ? soft : null;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }
}
