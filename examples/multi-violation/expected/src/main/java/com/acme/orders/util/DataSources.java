package com.acme.orders.util;

import javax.naming.InitialContext;
import javax.naming.NamingException;
import javax.sql.DataSource;

/**
 * Looks up container-managed datasources for the reporting jobs, which run outside CDI.
 */
public final class DataSources {

    private DataSources() {
    }

    public static DataSource lookup(String jndiName) {
        try {
            InitialContext context = new InitialContext();
            return (DataSource) context.lookup(jndiName);
        } catch (NamingException e) {
            throw new IllegalStateException("No datasource bound at " + jndiName, e);
        }
    }
}
